-- The plugin's pieces without a server: chat rendering, option validation,
-- settings shape checks, selection context, protocol names.
local H = dofile(vim.fs.dirname(arg[0]) .. "/helpers.lua")

H.run(function(report)
  report.loaded_at_start = {}
  for name in pairs(package.loaded) do
    if name:find("^nexus") then
      table.insert(report.loaded_at_start, name)
    end
  end
  report.commands = {}
  for _, name in ipairs({ "NexusAsk", "NexusCancel", "NexusNew", "NexusSessions", "NexusLog", "NexusChat" }) do
    report.commands[name] = vim.fn.exists(":" .. name) == 2
  end

  -- The chat renders a turn the way the updates describe it.
  local chat = require("nexus.chat").new("/tmp/unit-root")
  chat:user("Rename foo\nplease")
  chat:reasoning("Thinking about", true)
  chat:reasoning(" it\nstep two", true)
  chat:reasoning(nil, false)
  chat:content("I'll ")
  chat:content("edit it.\nNow")
  chat:tool_call("c1", "edit_file", { path = "a.py", oldText = "foo", newText = "bar" }, "pending")
  chat:tool_call("c2", "rename_file", { path = "b.py", newPath = "c.py" }, "pending")
  chat:tool_update("c1", "edit_file", "running")
  chat:tool_update("c2", "rename_file", "running")
  chat:tool_update("c1", "edit_file", "failed", "oldText not found\nsecond line")
  chat:tool_update("c2", "rename_file", "completed")
  chat:tool_update("c3", "mcp_tool", "skipped")
  chat:content("Done.")
  chat:footer("endTurn", { inputTokens = 12, outputTokens = 5 })
  chat:user("again")
  chat:footer("maxIterations")
  chat:error("providerAuth: bad key")
  report.chat = chat:lines()
  report.chat_name = vim.api.nvim_buf_get_name(chat.buf)
  report.chat_modifiable = vim.bo[chat.buf].modifiable
  report.chat_buftype = vim.bo[chat.buf].buftype
  local dimmed = {}
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(chat.buf, -1, 0, -1, { details = true })) do
    local details = mark[4]
    if details.line_hl_group == "NexusReasoning" then
      table.insert(dimmed, mark[2])
    end
  end
  report.dimmed_rows = dimmed
  vim.cmd("colorscheme default")
  report.reasoning_hl_after_colorscheme = vim.api.nvim_get_hl(0, { name = "NexusReasoning" }).link or vim.NIL

  -- The chat buffer wiped or unloaded mid-turn: the next update starts a fresh one.
  vim.cmd("bwipeout! " .. chat.buf)
  chat:tool_update("c1", "edit_file", "completed")
  report.after_wipe = chat:lines()
  vim.cmd("bdelete! " .. chat.buf)
  chat:reasoning("more", true)
  report.after_unload = chat:lines()

  chat:clear("Loaded title")
  chat:history({
    { role = "system", content = "You are..." },
    { role = "user", content = "old question" },
    { role = "assistant", content = "Reading.", toolCalls = {
      { toolCallId = "t1", name = "read_file", arguments = { path = "x.py" } },
    } },
    { role = "tool", toolCallId = "t1", name = "read_file", content = "text" },
    { role = "assistant", content = "It says text." },
  })
  report.history = chat:lines()

  -- Options: bad values are named and their defaults kept.
  local config = require("nexus.config")
  config.set({ write_on_edit = "yes", chat = { position = "middle" }, cmd = { "my-nexus", "--stdio" } })
  report.bad_options_messages = vim.deepcopy(H.messages)
  report.options_after_bad = {
    write_on_edit = config.options.write_on_edit,
    position = config.options.chat.position,
    cmd = config.options.cmd,
  }
  H.messages = {}

  local health = require("nexus.health")
  report.settings_ok = health.check_settings(H.env_json("NEXUS_TEST_SETTINGS"))
  report.settings_bad = health.check_settings({
    provider = { kind = "x", baseUrl = "ftp://h", maxRetries = "3" },
    session = { maxIterations = 1.5 },
    logging = { streams = { "context", "debug" } },
    codeActions = { { title = "t" } },
    extra = true,
  })
  report.version_command = health.version_command({ "nexus-lsp", "--stdio" })

  local commands = require("nexus.commands")
  local buf = vim.api.nvim_create_buf(true, false)
  vim.api.nvim_buf_set_name(buf, "/tmp/unit-root/src/app.py")
  vim.bo[buf].filetype = "python"
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { "a = 1", "b = 2", "```", "c = 3" })
  report.context = commands.selection_context(buf, 2, 3, "/tmp/unit-root")
  report.context_single = commands.selection_context(buf, 4, 4, "/tmp/unit-root")

  report.format_session = require("nexus.sessions").format_session({
    sessionId = "s1", title = "Fix the parser", createdAt = "2025-01-02T03:04:05Z",
    updatedAt = "2025-01-02T04:05:06Z", turnCount = 3, status = "interrupted",
  })
  report.protocol = require("nexus.protocol")
  local progress = require("nexus.progress")
  report.progress_format = {
    progress.format({ kind = "begin", title = "Nexus", message = "batch 1 (2 tools)", percentage = 0 }),
    progress.format({ kind = "report", title = "Nexus", message = "edit_file: completed (1/2)", percentage = 50 }),
    progress.format({ kind = "end", title = "Nexus", message = "completed", percentage = 100 }),
  }
  report.status_idle = require("nexus").status()

  -- A server command that does not exist: the chat says so and the turn settles.
  require("nexus").setup({ cmd = { "nexus-lsp-not-installed" } })
  vim.cmd("NexusAsk hello")
  H.wait("the failed start to settle", function()
    return not H.state().running
  end, 5000)
  report.missing_server_chat = H.chat_lines()
end)
