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
  for _, name in ipairs({ "NexusAsk", "NexusCancel", "NexusNew", "NexusSessions", "NexusLog", "NexusChat",
    "NexusMode", "NexusPermissions", "NexusAdd", "NexusAddDiagnostics", "NexusCompact",
    "NexusRevert", "NexusFork", "NexusMcp" }) do
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
    { role = "system", name = "compaction", content = "Summary: the user asked..." },
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

  -- Protocol v2 pieces: command output under its tool line, usage, summaries.
  local out = require("nexus.chat").new("/tmp/unit-v2")
  out:user("run")
  out:tool_call("r1", "run_command", { command = "make test", cwd = "sub" }, "pending")
  out:tool_call("r2", "run_command", { command = "true" }, "pending")
  out:tool_update("r1", "run_command", "running", nil, { output = "\27[32mok\27[0m 1\r\npart" })
  out:tool_update("r1", "run_command", "running", nil, { output = "ial\n" })
  out:tool_update("r1", "run_command", "completed", nil, {
    output = "$ make test\n...", exitCode = nil, signal = "SIGTERM", durationMs = 2001,
    truncated = true, timedOut = true,
  })
  out:tool_update("r2", "run_command", "completed", nil, { exitCode = 0, durationMs = 3 })
  report.output_chat = out:lines()
  local context = require("nexus.context")
  report.usage_text = {
    context.usage_text({ usedTokens = 5210, contextTokens = 128000 }),
    context.usage_text({ usedTokens = 999, contextTokens = 1000, estimated = true }),
    context.usage_text({}),
  }
  report.item_names = {
    context.item_name(context.file_item("/tmp/unit-root/src/app.py", 3, 9), "/tmp/unit-root"),
    context.item_name(context.file_item("/tmp/unit-root/src/app.py", 4, 4), "/tmp/unit-root"),
    context.item_name(context.diagnostics_item(nil), "/tmp/unit-root"),
  }
  report.file_item = context.file_item("/tmp/unit-root/src/app.py", 3, 9)
  report.revert_summary = { require("nexus.checkpoints").summary(3, {
    files = { { path = "a.py", action = "restored" }, { path = "b.py", action = "unchanged" },
              { path = "n.py", action = "deleted" } },
    conflicts = { { path = "c.py", reason = "you changed lines 3-4 too" } },
    notRestored = {}, messagesReverted = 4,
  }) }
  report.mcp_line = require("nexus.mcp").format_server({
    name = "db", source = "project", transport = "stdio", status = "failed", tools = {},
    error = "exited at start (exit code 1)\nTraceback",
  })
  report.grant_line = require("nexus.permission").format_grant({
    id = 1, tool = "run_command", match = "pytest *", action = "allow", createdAt = "2026-11-30T10:11:12Z",
  })
  report.permission_prompt = require("nexus.permission").prompt({
    toolCall = { name = "run_command", title = "Run `ls`\nnow" },
  })
  report.settings_v2 = require("nexus.health").check_settings({
    permissions = { mode = "acceptEdits", rules = { { tool = "run_command", match = "pytest *", action = "allow" } } },
    commands = { timeoutSeconds = 30, envDeny = { "AWS_*" } },
    session = { compactAt = 0.7, keepRecentExchanges = 2 },
    edits = { diagnosticsDelayMs = 500 },
    mcpServers = { everything = { command = "npx", args = { "-y", "x" } } },
  })
  report.settings_v2_bad = require("nexus.health").check_settings({
    permissions = { mode = "yolo", rules = { { tool = "x" } } },
    session = { compactAt = 2 },
    mcpServers = { broken = { args = {} } },
  })

  -- A server command that does not exist: the chat says so and the turn settles.
  require("nexus").setup({ cmd = { "nexus-lsp-not-installed" } })
  vim.cmd("NexusAsk hello")
  H.wait("the failed start to settle", function()
    return not H.state().running
  end, 5000)
  report.missing_server_chat = H.chat_lines()
end)
