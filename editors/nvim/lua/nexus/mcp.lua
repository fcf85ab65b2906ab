--- MCP servers (protocol v2 §5): `:NexusMcp` lists the workspace server's MCP
--- servers with their status and tools (`nexus/mcp/list`) in a scratch window;
--- `:checkhealth nexus` lists them too. MCP tool calls show in the chat like
--- the built-in tools (their names are `mcp__<server>__<tool>`).
local client = require("nexus.client")
local protocol = require("nexus.protocol")

local M = {}

--- `name: status (source, transport), N tools — error`
---@param server table an item of nexus/mcp/list
---@return string
function M.format_server(server)
  local text = string.format("%s: %s", server.name or "?", server.status or "?")
  local how = {}
  for _, field in ipairs({ "source", "transport" }) do
    if type(server[field]) == "string" then
      how[#how + 1] = server[field]
    end
  end
  if #how > 0 then
    text = text .. " (" .. table.concat(how, ", ") .. ")"
  end
  local tools = type(server.tools) == "table" and server.tools or {}
  text = text .. string.format(", %d tool%s", #tools, #tools == 1 and "" or "s")
  if type(server.error) == "string" and server.error ~= "" then
    text = text .. " — " .. vim.split(server.error, "\n", { plain = true })[1]
  end
  return text
end

--- The lines :NexusMcp shows.
---@param servers table[]
---@return string[]
function M.lines(servers)
  local lines = { "# MCP servers", "" }
  if #servers == 0 then
    lines[#lines + 1] = "None configured (settings.mcpServers, or .mcp.json in the workspace)."
  end
  for _, server in ipairs(servers) do
    lines[#lines + 1] = "- " .. M.format_server(server)
    for _, tool in ipairs(type(server.tools) == "table" and server.tools or {}) do
      lines[#lines + 1] = "  - " .. tool
    end
  end
  return lines
end

--- Show the list in a scratch split (`q` closes it).
---@param ws nexus.Workspace
---@param done fun(lines: string[]|nil)|nil
function M.show(ws, done)
  done = done or function() end
  local session = require("nexus.session")
  client.with_client(ws.root, function(c, start_err)
    if not c then
      session.notify(start_err or "the nexus server did not start", vim.log.levels.ERROR)
      return done(nil)
    end
    client.request(c, protocol.MCP_LIST, client.object(nil), function(err, result)
      if err or type(result) ~= "table" then
        session.notify("could not list MCP servers: " .. (err and session.describe_error(err) or "no result"), vim.log.levels.ERROR)
        return done(nil)
      end
      local lines = M.lines(result.servers or {})
      local buf = vim.api.nvim_create_buf(false, true)
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
      vim.bo[buf].filetype = "markdown"
      vim.bo[buf].modifiable = false
      vim.bo[buf].bufhidden = "wipe"
      vim.keymap.set("n", "q", "<Cmd>close<CR>", { buffer = buf, nowait = true })
      vim.cmd(string.format("botright sbuffer %d", buf))
      vim.api.nvim_win_set_height(0, math.min(#lines + 1, 20))
      done(lines)
    end)
  end)
end

return M
