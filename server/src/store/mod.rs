//! Stores that several ferrex processes share: the building blocks a session store uses
//! when sessions must survive a process and move between processes.
//!
//! - [`redis`]: leases with fencing, fenced session writes and one-time tokens in Redis.
//! - [`sessions`]: [`RedisSessions`], the session store built on them.

pub mod redis;
pub mod sessions;

pub use sessions::RedisSessions;
