-- bench/http.lua — wrk requests for bench/http.
--   wrk -t THREADS ... -s bench/http.lua URL -- MODE KEYFILE THREADS [ID]
-- MODE: one   POST one point {"data":{"temperature":22.5}}
--       batch POST 100 points as NDJSON, each line its own timestamp
--       latest GET /api/v1/telemetry/ID/latest
--       range  GET /api/v1/telemetry/ID?limit=1000
-- KEYFILE holds one device key a line. The keys are shared out among wrk's
-- threads (thread t of T takes every T-th key from the t-th), and each thread
-- sends its requests round-robin over its own keys, so a thread's connections
-- spread over many devices and no telemetry_latest row is hot. Every thread
-- reads the same file; `setup` numbers the threads (wrk runs each thread's
-- init right after its setup, so the thread count comes as an argument).

local counter = 0

function setup(thread)
	counter = counter + 1
	thread:set("tid", counter)
end

local mode, keys, nkeys, next_key, path
local seq = 0     -- batch: timestamps unique within a thread (its keys are its own)
local base_ms

function init(args)
	mode = args[1] or "one"
	local all = {}
	for line in io.lines(args[2]) do
		if line ~= "" then all[#all + 1] = line end
	end
	local t, n = tid or 1, tonumber(args[3]) or 1
	keys = {}
	for i = t, #all, n do keys[#keys + 1] = all[i] end
	if #keys == 0 then keys = all end
	nkeys, next_key = #keys, 1
	if mode == "latest" then
		path = "/api/v1/telemetry/" .. args[4] .. "/latest"
	elseif mode == "range" then
		path = "/api/v1/telemetry/" .. args[4] .. "?limit=1000"
	else
		path = "/api/v1/telemetry"
	end
	-- Batches are stamped in milliseconds from 50 minutes back; every thread
	-- its own keys, so only (device, ts) within a thread must differ.
	base_ms = (os.time() - 3000) * 1000
end

local one_body = '{"data":{"temperature":22.5}}'
local one_headers = { ["Content-Type"] = "application/json" }
local batch_headers = { ["Content-Type"] = "application/x-ndjson" }

local function key()
	local k = keys[next_key]
	next_key = next_key % nkeys + 1
	return k
end

function request()
	if mode == "one" then
		one_headers["X-API-Key"] = key()
		return wrk.format("POST", path, one_headers, one_body)
	elseif mode == "batch" then
		local lines = {}
		for j = 1, 100 do
			seq = seq + 1
			lines[j] = string.format('{"timestamp":%d,"data":{"temperature":%.1f}}', base_ms + seq, 20 + j / 10)
		end
		batch_headers["X-API-Key"] = key()
		return wrk.format("POST", path, batch_headers, table.concat(lines, "\n") .. "\n")
	else
		return wrk.format("GET", path, { ["X-API-Key"] = keys[1] })
	end
end
