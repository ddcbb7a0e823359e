"""What every test suite shares: one fast emulator configuration and short turn limits
(``emulator``), one tool-result helper and recording MCP client (``results``), and clean
subprocess environments (``processes``)."""
