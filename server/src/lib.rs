//! ferrex-server.
