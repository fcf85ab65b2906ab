-- Shared by the headless Neovim test scripts (run with `nvim --clean --headless -l`).
--
-- A script calls `H.run(function(report) ... end)`: the scenario fills `report`,
-- H writes it as one JSON line on stdout for tests/editors/test_nvim.py, also when
-- the scenario fails (then with `error`, the chat's lines and the messages), and
-- stops the language servers before Neovim exits.
local H = {}

H.messages = {}

-- Keep every vim.notify message: the Python side asserts on them.
vim.notify = function(msg, level)
  table.insert(H.messages, { msg = tostring(msg), level = level or vim.log.levels.INFO })
end

function H.env_json(name)
  local raw = vim.env[name]
  if raw == nil or raw == "" then
    return nil
  end
  return vim.json.decode(raw)
end

--- Options for setup(): the settings the Python side passed, plus `extra`.
function H.options(extra)
  local log_file = vim.env.NEXUS_TEST_SERVER_LOG
  return vim.tbl_deep_extend("force", {
    cmd = log_file and { "nexus-lsp", "--log-file", log_file } or nil,
    settings = H.env_json("NEXUS_TEST_SETTINGS") or {},
    -- Long enough that a passing cancel test proves the server's turnEnd arrived.
    cancel_timeout_ms = 20000,
  }, extra or {})
end

--- Wait until `cond()` is truthy; fail naming `what` after `ms`.
function H.wait(what, cond, ms)
  local ok = vim.wait(ms or 15000, function()
    return cond() and true or false
  end, 10)
  if not ok then
    error("timed out waiting for " .. what, 2)
  end
end

function H.state()
  return require("nexus").state()
end

function H.chat_lines()
  local buf = H.state().chat_buf
  if buf and vim.api.nvim_buf_is_valid(buf) then
    return vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  end
  return {}
end

function H.chat_text()
  return table.concat(H.chat_lines(), "\n")
end

function H.chat_has(text)
  return H.chat_text():find(text, 1, true) ~= nil
end

--- Ask and wait for the turn to finish; returns the send result.
function H.ask(prompt, ms)
  vim.cmd("NexusAsk " .. prompt)
  H.wait("the turn for " .. vim.inspect(prompt) .. " to start", function()
    return H.state().running
  end, 2000)
  H.wait("the turn for " .. vim.inspect(prompt) .. " to end", function()
    return not H.state().running
  end, ms)
  return H.state().last_result
end

function H.read_file(path)
  local f = assert(io.open(path, "r"))
  local text = f:read("*a")
  f:close()
  return text
end

function H.buf_text(bufnr)
  return table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n")
end

local function no_clients()
  return #vim.lsp.get_clients() == 0
end

--- Stop the servers: shutdown/exit first, then terminate what is still running.
---@return boolean graceful every server exited after `exit`
local function stop_clients()
  for _, client in ipairs(vim.lsp.get_clients()) do
    client:stop()
  end
  if vim.wait(1500, no_clients, 20) then
    return true
  end
  -- stop(true) is a no-op once a client is stopping (0.11): terminate directly.
  for _, client in ipairs(vim.lsp.get_clients()) do
    client.rpc.terminate()
  end
  vim.wait(3000, no_clients, 20)
  return false
end

function H.run(scenario)
  local report = {}
  local ok, err = xpcall(function()
    scenario(report)
  end, debug.traceback)
  if not ok then
    report.error = err
    report.chat = H.chat_lines()
  end
  report.messages = H.messages
  report.servers_exited_gracefully = stop_clients()
  io.stdout:write(vim.json.encode(report), "\n")
  io.stdout:flush()
  if not ok then
    os.exit(1)
  end
end

return H
