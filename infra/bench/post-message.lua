-- wrk -s infra/bench/post-message.lua: POST /messages, a new message most of the time
-- (counter-based, so the store grows as it would under real writes), JSON body.
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"message":"load test message %d %d"}', counter, math.random(1, 1000000000))
  return wrk.format("POST", "/messages", { ["content-type"] = "application/json" }, body)
end
