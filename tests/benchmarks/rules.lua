-- wrk script: signed-in users send chat messages, each request one user's write with ?auth=.
-- Arguments (after --): a pairs file, one "cid sender receiver idToken" line per sender, and a
-- mode: "create" PUTs one message to /conversations/<cid>/messages/<id>.json; "send" is the
-- app's whole send, one multi-path PATCH at the root (message, conversation lastMessageAt, both
-- users' userConversations entries with the receiver's unreadCount +1, the receiver's
-- notification). Ids are <mode letter><thread>n<counter>: unique, and valid keys.
-- Counts requests written, 2xx and non-2xx answers per thread (with the first failure's
-- status and body) and prints one JSON summary line at the end.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local function message(sender, receiver)
  return '{"senderId":"' .. sender .. '","receiverId":"' .. receiver
    .. '","text":"hello","timestamp":{".sv":"timestamp"},"read":false,"type":"text"}'
end

function init(args)
  sent = 0
  ok = 0
  non2xx = 0
  first_failure = ""
  mode = args[2] or "create"
  senders = {}
  for line in io.lines(args[1]) do
    local cid, sender, receiver, token = line:match("^(%S+) (%S+) (%S+) (%S+)$")
    if cid then
      table.insert(senders, {
        cid = cid,
        sender = sender,
        receiver = receiver,
        auth = ".json?auth=" .. token,
        messages = "/conversations/" .. cid .. "/messages/",
        message = message(sender, receiver),
      })
    end
  end
  if #senders == 0 then
    error("no senders in " .. tostring(args[1]))
  end
  prefix = (mode == "send" and "s" or "c") .. id .. "n"
  headers = { ["Content-Type"] = "application/json" }
end

local function send_body(s, mid)
  local conversation = '"conversations/' .. s.cid
  local mine = '"userConversations/' .. s.sender .. "/" .. s.cid
  local theirs = '"userConversations/' .. s.receiver .. "/" .. s.cid
  return "{" .. conversation .. "/messages/" .. mid .. '":' .. s.message
    .. "," .. conversation .. '/metadata/lastMessageAt":{".sv":"timestamp"}'
    .. "," .. mine .. '/lastMessage":"hello"'
    .. "," .. mine .. '/lastMessageAt":{".sv":"timestamp"}'
    .. "," .. theirs .. '/lastMessage":"hello"'
    .. "," .. theirs .. '/lastMessageAt":{".sv":"timestamp"}'
    .. "," .. theirs .. '/unreadCount":{".sv":{"increment":1}}'
    .. ',"notifications/' .. s.receiver .. "/" .. mid .. '":{"kind":"message","title":"New message"'
    .. ',"body":"hello","senderId":"' .. s.sender .. '","createdAt":{".sv":"timestamp"}'
    .. ',"read":false,"link":{"conversationId":"' .. s.cid .. '"}}}'
end

function request()
  sent = sent + 1
  local s = senders[(sent % #senders) + 1]
  local mid = prefix .. sent
  if mode == "send" then
    return wrk.format("PATCH", "/" .. s.auth, headers, send_body(s, mid))
  end
  return wrk.format("PUT", s.messages .. mid .. s.auth, headers, s.message)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    non2xx = non2xx + 1
    if first_failure == "" then
      first_failure = status .. " " .. string.sub(body or "", 1, 200)
    end
  end
end

local function json_string(text)
  return '"' .. text:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local written, good, bad, failure = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    written = written + thread:get("sent")
    good = good + thread:get("ok")
    bad = bad + thread:get("non2xx")
    if failure == "" then
      failure = thread:get("first_failure") or ""
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "sent": %d, "ok": %d, "non2xx": %d, '
      .. '"first_failure": %s, "connect_errors": %d, "read_errors": %d, "write_errors": %d, '
      .. '"status_errors": %d, "timeouts": %d, "latency_p50_us": %d, "latency_p99_us": %d}\n',
    summary.requests, summary.duration, written, good, bad, json_string(failure), e.connect,
    e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
