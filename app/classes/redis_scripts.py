"""The Redis hub's Lua scripts (redis_hub.py describes the keys): each operation changes the
class's keys AND publishes the frames it causes, in one script, so the frames of all processes
are numbered and sent in the order Redis applied the changes."""

# KEYS: room, members, answers, classes, sockets. ARGV: now (ms), idle (ms), channel, code,
# op args...
PREAMBLE = """
local room, mem, ans, all, socks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, idle, chan, code = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local function touch()
  redis.call('PEXPIRE', room, idle)
  redis.call('PEXPIRE', mem, idle)
  redis.call('PEXPIRE', ans, idle)
  redis.call('PEXPIRE', socks, idle)
  redis.call('ZADD', all, now + idle, code)
end
local function publish(aud, frame)
  local rev = redis.call('HINCRBY', room, 'rev', 1)
  redis.call('PUBLISH', chan, aud .. '|' .. rev .. '|' .. frame)
end
local function counts()
  local vals = redis.call('HVALS', mem)
  local k = 0
  for _, v in ipairs(vals) do if v == '1' then k = k + 1 end end
  return #vals, k
end
local function members_frame()
  local n, k = counts()
  return '{"type":"members","members":' .. n .. ',"following":' .. k ..
         ',"exploring":' .. (n - k) .. '}'
end
local function tally(kind)
  local pid = redis.call('HGET', room, 'poll_id')
  if not pid or pid == '' then return nil end
  local c = {}
  for i = 1, tonumber(redis.call('HGET', room, 'poll_n')) do c[i] = 0 end
  local vals = redis.call('HVALS', ans)
  for _, v in ipairs(vals) do local j = tonumber(v) + 1; c[j] = c[j] + 1 end
  return '{"type":"' .. kind .. '","poll":' .. pid .. ',"counts":[' .. table.concat(c, ',') ..
         '],"answered":' .. #vals .. ',"members":' .. redis.call('HLEN', mem) .. '}'
end
local function driver_json()
  local d = redis.call('HGET', room, 'driver') or ''
  if d == '' then return 'null' end
  return '"' .. d .. '"'
end
local function members_changed()
  publish('t', members_frame())
  local t = tally('tally')
  if t then publish('t', t) end
end
"""
EXISTS = "if redis.call('EXISTS', room) == 0 then return 'gone' end\n"

SCRIPTS = {
    # ARGV[5] digest, [6] max classes, [7] the initial state
    "create": """
redis.call('ZREMRANGEBYSCORE', all, '-inf', now)
if redis.call('EXISTS', room) == 1 then return 'taken' end
if redis.call('ZCARD', all) >= tonumber(ARGV[6]) then return 'full' end
redis.call('DEL', mem, ans, socks)
redis.call('HSET', room, 'digest', ARGV[5], 'seq', 0, 'rev', 0, 'state', ARGV[7], 'poll', '',
           'poll_id', '', 'poll_n', 0, 'polls', 0)
touch()
return 'ok'
""",
    # ARGV[5] member id ('' for a teacher socket), [6] max members, [7] teacher's tab or ''
    "join": """
local member = ARGV[5]
local answer = 'null'
if member == '' and ARGV[7] ~= '' and (redis.call('HGET', room, 'driver') or '') == '' then
  redis.call('HSET', room, 'driver', ARGV[7])
end
if member ~= '' then
  local known = redis.call('HEXISTS', mem, member) == 1
  if not known and redis.call('HLEN', mem) >= tonumber(ARGV[6]) then return 'full' end
  redis.call('HINCRBY', socks, member, 1)
  redis.call('HSET', mem, member, '1')
  answer = redis.call('HGET', ans, member) or 'null'
  touch()
  members_changed()
else
  touch()
end
local n, k = counts()
local poll = redis.call('HGET', room, 'poll')
if poll == '' then poll = 'null' end
return '{"state":' .. redis.call('HGET', room, 'state') .. ',"members":' .. n ..
       ',"following":' .. k .. ',"poll":' .. poll .. ',"tally":' .. (tally('tally') or 'null') ..
       ',"answer":' .. answer .. ',"driver":' .. driver_json() ..
       ',"rev":' .. redis.call('HGET', room, 'rev') .. '}'
""",
    # ARGV[5] the tab (32 hex digits: nothing to escape)
    "take_over": """
redis.call('HSET', room, 'driver', ARGV[5])
touch()
publish('t', '{"type":"driver","tab":"' .. ARGV[5] .. '"}')
return 'ok'
""",
    # ARGV[5] member id
    # (their answer stays in the open poll's tally)
    "leave": """
touch()
if redis.call('HINCRBY', socks, ARGV[5], -1) > 0 then return 'ok' end
redis.call('HDEL', socks, ARGV[5])
redis.call('HDEL', mem, ARGV[5])
members_changed()
return 'ok'
""",
    # ARGV[5] member id, [6] '1' following | '0' exploring
    "status": """
touch()
local old = redis.call('HGET', mem, ARGV[5])
if old and old ~= ARGV[6] then
  redis.call('HSET', mem, ARGV[5], ARGV[6])
  publish('t', members_frame())
end
return 'ok'
""",
    # ARGV[5] the fields to merge (JSON object), [6] '1' recall
    "state": """
local st = cjson.decode(redis.call('HGET', room, 'state'))
for k, v in pairs(cjson.decode(ARGV[5])) do st[k] = v end
st['seq'] = redis.call('HINCRBY', room, 'seq', 1)
local recall = ARGV[6] == '1'
if recall then
  st['mode'] = 'follow'
  for _, id in ipairs(redis.call('HKEYS', mem)) do redis.call('HSET', mem, id, '1') end
end
local s = cjson.encode(st)
redis.call('HSET', room, 'state', s)
touch()
if recall then
  st['recall'] = true
  publish('a', cjson.encode(st))
  publish('t', members_frame())
else
  publish('v', s)
end
return 'ok'
""",
    # ARGV[5] {"question", "choices"} (JSON), [6] number of choices
    "poll": """
local old = tally('poll_closed')
if old then publish('a', old) end
local pid = redis.call('HINCRBY', room, 'polls', 1)
local p = cjson.decode(ARGV[5])
p['type'] = 'poll'
p['poll'] = pid
local pj = cjson.encode(p)
redis.call('DEL', ans)
redis.call('HSET', room, 'poll', pj, 'poll_id', pid, 'poll_n', ARGV[6])
touch()
publish('a', pj)
publish('t', tally('tally'))
return 'ok'
""",
    # ARGV[5] member id, [6] poll id, [7] choice index
    "answer": """
if redis.call('HGET', room, 'poll_id') ~= ARGV[6] then return 'closed' end
if tonumber(ARGV[7]) >= tonumber(redis.call('HGET', room, 'poll_n')) then return 'choice' end
if redis.call('HEXISTS', mem, ARGV[5]) == 0 then return 'member' end
redis.call('HSET', ans, ARGV[5], ARGV[7])
touch()
publish('t', tally('tally'))
return 'ok'
""",
    "close_poll": """
local t = tally('poll_closed')
if not t then return 'none' end
redis.call('HSET', room, 'poll', '', 'poll_id', '')
redis.call('DEL', ans)
touch()
publish('a', t)
return 'ok'
""",
    # ARGV[5] the frame (JSON), for the students
    "relay": """
touch()
publish('s', ARGV[5])
return 'ok'
""",
    # ARGV[5] the "ended" frame
    "end": """
publish('x', ARGV[5])
redis.call('DEL', room, mem, ans, socks)
redis.call('ZREM', all, code)
return 'ok'
""",
    # ARGV[5] '1': count as activity
    "alive": """
if ARGV[5] == '1' then touch() end
return 'ok'
""",
}
MISS = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""
