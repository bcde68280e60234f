//! The Lua scripts behind every store call: each runs atomically inside Redis, so one
//! call is one round trip however many commands it runs.

use redis::{Cmd, Script};

pub(super) struct Scripts {
    pub(super) acquire: Script,
    pub(super) commit: Script,
    pub(super) renew: Script,
    pub(super) release: Script,
    pub(super) load: Script,
    pub(super) register: Script,
    pub(super) load_changed: Script,
}

/// `EVALSHA` of `script` with `keys`, built straight into one command (redis-rs's
/// `ScriptInvocation` copies every key and argument twice on the way); the caller adds
/// the arguments and runs it with [`RedisStore::run`](super::RedisStore::run).
pub(super) fn evalsha(script: &Script, keys: &[&str]) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(keys.len());
    for key in keys {
        cmd.arg(*key);
    }
    cmd
}

/// `KEYS`: lease, meta, state. `ARGV`: token, lease ms, idle ms, load (0/1), cached rev, create
/// (0/1), ask (0/1). Answers `{2}` for a session that does not exist when not creating (and creates
/// nothing), `{0, lease pttl}` when busy (having marked the session `wanted` when asking, so a
/// holder keeping the lease gives it back at its next commit), else `{1, fence, rev}` (rev as a
/// string) plus the state's `HGETALL` when asked to load and the rev differs from the cached one. A
/// new holder starts with no `wanted` mark: whoever still waits marks it again at its next try.
pub(super) const ACQUIRE_LUA: &str = r"
if ARGV[6] == '0' and redis.call('EXISTS', KEYS[2]) == 0 then
  return {2}
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if ARGV[7] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('HSET', KEYS[2], 'wanted', '1')
  end
  return {0, redis.call('PTTL', KEYS[1])}
end
local fence = redis.call('HINCRBY', KEYS[2], 'fence', '1')
redis.call('HSET', KEYS[2], 'owner', ARGV[1])
redis.call('HDEL', KEYS[2], 'wanted')
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
local rev = redis.call('HGET', KEYS[3], '#rev') or '0'
if ARGV[4] == '0' or ARGV[5] == rev then
  return {1, fence, rev}
end
return {1, fence, rev, redis.call('HGETALL', KEYS[3])}
";

/// `KEYS`: lease, meta, state. `ARGV`: token, idle ms, refresh the idle expiry (1) or
/// leave it (0), release (1) or keep (0), renew a kept lease (1) or not (0), lease ms,
/// number of field/value pairs set (`#rev` and the new revision the last of them), then
/// the pairs, then the fields to delete.
/// Answers `{0}` when the caller is no longer the owner, else `{1, lease held, asked}`:
/// a lease another process asked for (`wanted`) is given back even when keeping was asked.
/// A write that adds a field refreshes the idle expiry even when asked to leave it: the
/// `state` key it may have made must expire too. The lease is not read: while the caller
/// is the owner, no other process acquired since, so the lease key, if it still exists,
/// is the caller's (only an acquire writes it, and an acquire makes its token the owner).
/// Kept without renewing, it is taken to be there still: the caller renewed it a small
/// part of a lease ago (and should the process have stalled since, its next commit is
/// fenced all the same). Every number passed to `redis.call` is a
/// string: Lua would format a number with `%.17g` on each call; the revision comes from
/// the caller for the same reason (no arithmetic in Lua).
pub(super) const COMMIT_LUA: &str = r"
local meta = redis.call('HMGET', KEYS[2], 'owner', 'wanted')
if meta[1] ~= ARGV[1] then
  return {0}
end
local set_end = 7 + 2 * tonumber(ARGV[7])
local added = redis.call('HSET', KEYS[3], unpack(ARGV, 8, set_end))
if #ARGV > set_end then
  redis.call('HDEL', KEYS[3], unpack(ARGV, set_end + 1, #ARGV))
end
if ARGV[3] == '1' or added > 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
local asked = 0
if meta[2] then
  redis.call('HDEL', KEYS[2], 'wanted')
  asked = 1
end
local held = 0
if ARGV[4] == '1' or asked == 1 then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '1' then
  held = redis.call('PEXPIRE', KEYS[1], ARGV[6])
else
  held = 1
end
return {1, held, asked}
";

/// `KEYS`: lease. `ARGV`: token, lease ms. Extends the lease only for its holder.
pub(super) const RENEW_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// `KEYS`: lease. `ARGV`: token. Deletes the lease only for its holder.
pub(super) const RELEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// `KEYS`: meta, state. Answers `{fence, HGETALL state}` read at one instant.
pub(super) const LOAD_LUA: &str = r"
return {tonumber(redis.call('HGET', KEYS[1], 'fence') or '0'), redis.call('HGETALL', KEYS[2])}
";

/// `KEYS`: meta. `ARGV`: idle ms. Makes the session's record (fence 0) unless it exists,
/// and refreshes its idle expiry.
pub(super) const REGISTER_LUA: &str = r"
redis.call('HSETNX', KEYS[1], 'fence', '0')
return redis.call('PEXPIRE', KEYS[1], ARGV[1])
";

/// `KEYS`: meta, state. `ARGV`: cached rev. Answers `{0}` for a session that does not
/// exist, `{1, rev}` (rev as a string) when the rev is the cached one, else
/// `{1, rev, HGETALL state}`.
pub(super) const LOAD_CHANGED_LUA: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0}
end
local rev = redis.call('HGET', KEYS[2], '#rev') or '0'
if ARGV[1] == rev then
  return {1, rev}
end
return {1, rev, redis.call('HGETALL', KEYS[2])}
";
