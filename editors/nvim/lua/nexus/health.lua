--- `:checkhealth nexus`: Neovim version, the plugin options, the server command
--- and its version, the shape of the server settings (the server validates the
--- rest and reports it with window/showMessage), the API key variable, and the
--- running servers.
local config = require("nexus.config")
local protocol = require("nexus.protocol")

local M = {}

local health = vim.health

local function is_list(value)
  return type(value) == "table" and (next(value) == nil or vim.islist(value))
end

-- Field name -> expected Lua type (or a checker returning an error string).
local function one_of(...)
  local allowed = { ... }
  return function(value)
    if not vim.tbl_contains(allowed, value) then
      return "expected one of " .. table.concat(allowed, ", ") .. ", got " .. vim.inspect(value)
    end
  end
end

local function positive_integer(value)
  if type(value) ~= "number" or value < 1 or value % 1 ~= 0 then
    return "expected a positive integer, got " .. vim.inspect(value)
  end
end

local function positive_number(value)
  if type(value) ~= "number" or value <= 0 then
    return "expected a positive number, got " .. vim.inspect(value)
  end
end

local function http_url(value)
  if type(value) ~= "string" or not value:match("^https?://") then
    return "expected an http(s) URL, got " .. vim.inspect(value)
  end
end

local function streams(value)
  if not is_list(value) then
    return "expected a list, got " .. vim.inspect(value)
  end
  for _, stream in ipairs(value) do
    if not vim.tbl_contains({ "context", "verbose", "raw" }, stream) then
      return "unknown stream " .. vim.inspect(stream) .. " (context, verbose, raw)"
    end
  end
end

local function code_actions(value)
  if not is_list(value) then
    return "expected a list, got " .. vim.inspect(value)
  end
  for i, action in ipairs(value) do
    if type(action) ~= "table" or type(action.title) ~= "string" or type(action.prompt) ~= "string" then
      return string.format("item %d: expected { title = string, prompt = string }", i)
    end
  end
end

local function fraction(value)
  if type(value) ~= "number" or value <= 0 or value > 1 then
    return "expected a number in (0, 1], got " .. vim.inspect(value)
  end
end

local function non_negative_integer(value)
  if type(value) ~= "number" or value < 0 or value % 1 ~= 0 then
    return "expected an integer >= 0, got " .. vim.inspect(value)
  end
end

local function string_list(value)
  if not is_list(value) then
    return "expected a list, got " .. vim.inspect(value)
  end
  for i, item in ipairs(value) do
    if type(item) ~= "string" then
      return string.format("item %d: expected a string", i)
    end
  end
end

local function rules(value)
  if not is_list(value) then
    return "expected a list, got " .. vim.inspect(value)
  end
  for i, rule in ipairs(value) do
    if type(rule) ~= "table" or type(rule.tool) ~= "string"
      or not vim.tbl_contains({ "allow", "deny", "ask" }, rule.action) then
      return string.format("item %d: expected { tool = string, match = string, action = allow|deny|ask }", i)
    end
  end
end

-- `mcpServers`: name -> { command, args, env, cwd } or { url, headers } (mcp.json's shape).
local function mcp_servers(value)
  if type(value) ~= "table" or (is_list(value) and next(value) ~= nil) then
    return "expected a table of servers by name, got " .. vim.inspect(value)
  end
  for name, server in pairs(value) do
    if type(server) ~= "table" or (type(server.command) ~= "string" and type(server.url) ~= "string") then
      return string.format("%s: expected { command = string, args = {...} } or { url = string }", name)
    end
  end
end

local schema = {
  provider = {
    kind = one_of("openai", "anthropic"),
    baseUrl = http_url,
    model = "string",
    apiKeyEnv = "string",
    timeoutSeconds = positive_number,
    maxRetries = "number",
  },
  session = {
    maxIterations = positive_integer,
    toolTimeoutSeconds = positive_number,
    maxParallelTools = positive_integer,
    systemPrompt = "string",
    contextTokens = positive_integer,
    maxToolOutputChars = positive_integer,
    compactAt = fraction,
    keepRecentExchanges = non_negative_integer,
    maxAttachmentChars = positive_integer,
  },
  logging = { streams = streams, markdownTruncate = "number", eventRetention = "number" },
  edits = { fallbackToDisk = "boolean", confirm = "boolean", diagnosticsDelayMs = non_negative_integer },
  permissions = {
    mode = one_of("default", "plan", "acceptEdits", "strict", "auto"),
    rules = rules,
  },
  commands = {
    timeoutSeconds = positive_number,
    maxStoredOutputBytes = positive_integer,
    envDeny = string_list,
  },
  mcpServers = mcp_servers,
  codeActions = code_actions,
}

--- Basic shape checks of the server settings (protocol section 7).
---@param settings any
---@return string[] problems, each naming the field
function M.check_settings(settings)
  local problems = {}
  local function check(value, spec, path)
    if type(spec) == "function" then
      local problem = spec(value)
      if problem then
        problems[#problems + 1] = path .. ": " .. problem
      end
    elseif type(spec) == "string" then
      if type(value) ~= spec then
        problems[#problems + 1] =
          string.format("%s: expected a %s, got %s", path, spec, vim.inspect(value))
      end
    elseif type(value) ~= "table" or (is_list(value) and next(value) ~= nil) then
      problems[#problems + 1] = string.format("%s: expected a table, got %s", path, vim.inspect(value))
    else
      for key, item in pairs(value) do
        local name = path == "" and tostring(key) or path .. "." .. tostring(key)
        if spec[key] == nil then
          problems[#problems + 1] = name .. ": unknown setting"
        else
          check(item, spec[key], name)
        end
      end
    end
  end
  check(settings, schema, "")
  table.sort(problems)
  return problems
end

--- The server command with --version instead of a transport flag.
---@param cmd string[]
---@return string[]
function M.version_command(cmd)
  local out = {}
  for _, part in ipairs(cmd) do
    if part ~= "--stdio" then
      out[#out + 1] = part
    end
  end
  out[#out + 1] = "--version"
  return out
end

local function check_server(opts)
  local locate = require("nexus.locate")
  -- From the cwd, as the first :NexusAsk outside a file would (not loading nexus.client).
  local cwd = vim.fn.getcwd()
  local root = vim.fs.normalize(vim.fs.root(cwd, opts.root_markers) or cwd)
  local server_cmd, origin = locate.server_cmd(opts.cmd, root)
  if not server_cmd then
    health.error(string.format("nexus-lsp not found (tried %s)", origin), locate.INSTALL_ADVICE)
    return
  end
  local exe = server_cmd[1]
  if vim.fn.executable(exe) ~= 1 then
    health.error(
      string.format("server command not found: %s (the `cmd` option)", exe),
      locate.INSTALL_ADVICE
    )
    return
  end
  local from = origin == "option" and "the `cmd` option" or origin == "PATH" and "PATH"
    or "the project's .venv"
  health.ok(string.format("server command found: %s (from %s)", vim.fn.exepath(exe), from))
  local cmd = M.version_command(server_cmd)
  local ok, proc = pcall(vim.system, cmd, { text = true, env = opts.cmd_env })
  if not ok then
    health.error(string.format("could not run %s: %s", table.concat(cmd, " "), proc))
    return
  end
  local result = proc:wait(10000)
  local output = vim.trim((result.stdout or "") .. (result.stderr or ""))
  if result.code == 0 and output ~= "" then
    health.ok("server version: " .. vim.split(output, "\n", { plain = true })[1])
  else
    health.error(
      string.format("`%s` failed (exit %s): %s", table.concat(cmd, " "), tostring(result.code), output),
      { "Check that `cmd` starts nexus-lsp" }
    )
  end
end

local function check_settings(opts)
  local problems = M.check_settings(opts.settings)
  if #problems == 0 then
    health.ok("settings have the expected shape (the server checks values and reports the rest)")
  else
    for _, problem in ipairs(problems) do
      health.error("settings." .. problem, { "See :help nexus-settings" })
    end
  end
  local provider = type(opts.settings.provider) == "table" and opts.settings.provider or {}
  local key_env = type(provider.apiKeyEnv) == "string" and provider.apiKeyEnv or "OPENAI_API_KEY"
  local value = vim.env[key_env]
  if value and value ~= "" then
    health.ok(string.format("API key variable %s is set", key_env))
  else
    health.warn(string.format("API key variable %s is not set", key_env), {
      "Local models (Ollama, llama.cpp, vLLM) need none.",
      "Otherwise export it before starting Neovim, or set settings.provider.apiKeyEnv.",
    })
  end
end

--- The MCP servers of a running server (nexus/mcp/list, protocol v2 §5).
local function check_mcp(client)
  local response
  if vim.fn.has("nvim-0.11") == 1 then
    response = client:request_sync(protocol.MCP_LIST, vim.empty_dict(), 5000, 0)
  else
    response = client.request_sync(protocol.MCP_LIST, vim.empty_dict(), 5000, 0)
  end
  if not response or response.err or type(response.result) ~= "table" then
    local why = response and response.err and response.err.message or "no answer"
    health.info(string.format("MCP servers: not listed (%s)", why))
    return
  end
  local servers = response.result.servers or {}
  if #servers == 0 then
    health.info("MCP servers: none configured (settings.mcpServers, .mcp.json)")
  end
  for _, server in ipairs(servers) do
    local text = require("nexus.mcp").format_server(server)
    if server.status == "failed" then
      health.error("MCP " .. text, { "The server log (nexus-lsp --log-file) has its stderr" })
    elseif server.status == "notAllowed" then
      health.warn("MCP " .. text, { "Allow it when the agent asks (a project .mcp.json server)" })
    else
      health.ok("MCP " .. text)
    end
  end
end

local function check_clients()
  local clients = vim.lsp.get_clients({ name = "nexus" })
  if #clients == 0 then
    health.info("no nexus server running (it starts on the first :NexusAsk)")
  end
  for _, client in ipairs(clients) do
    local caps = client.server_capabilities or {}
    local nexus = caps.experimental and caps.experimental.nexus
    local version = type(nexus) == "table" and nexus.protocolVersion or nil
    if version == protocol.PROTOCOL_VERSION then
      health.ok(string.format("server running for %s (protocol %d)", client.root_dir, version))
    elseif client.initialized then
      health.warn(
        string.format("server for %s speaks protocol %s, the plugin %d", client.root_dir, tostring(version), protocol.PROTOCOL_VERSION),
        { "Update nexus-lsp and the plugin together" }
      )
    else
      health.info(string.format("server for %s is starting", client.root_dir))
    end
    if client.initialized then
      check_mcp(client)
    end
  end
end

function M.check()
  health.start("nexus: Neovim and options")
  if vim.fn.has("nvim-0.10") == 1 then
    health.ok("Neovim " .. tostring(vim.version()))
  else
    health.error("Neovim 0.10 or newer is required")
  end
  local problems = config.validate(config.options)
  if #problems == 0 then
    health.ok("plugin options are valid")
  else
    for _, problem in ipairs(problems) do
      health.error("option " .. problem, { "See :help nexus-setup" })
    end
  end

  local opts = config.options
  health.start("nexus: server")
  if opts.cmd == nil or (type(opts.cmd) == "table" and type(opts.cmd[1]) == "string") then
    check_server(opts)
  end

  health.start("nexus: settings")
  if type(opts.settings) == "table" then
    check_settings(opts)
  end

  health.start("nexus: running servers")
  check_clients()
end

return M
