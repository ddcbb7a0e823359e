"""Setting nemo-mcp up: checking a setup, adding the server to MCP clients, building skill
folders, and the end-to-end demo.

    doctor      every check a working setup needs, each with a fix
    installers  the MCP server added to Claude Desktop, Cursor or Claude Code
    skills      a ready-to-publish Agent Skill folder for a skill manifest
    demo        the first workflow end to end, against the embedded emulator
"""
