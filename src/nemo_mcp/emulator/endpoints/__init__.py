"""The contract's endpoints and the control API, one module per area; routed by ``app``."""
