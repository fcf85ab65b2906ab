-- :NexusAsk streams the answer into the chat buffer; a range goes along as
-- context; without a prompt vim.ui.input asks for one.
local H = dofile(vim.fs.dirname(arg[0]) .. "/helpers.lua")

H.run(function(report)
  -- Lazy: the plugin defined its commands but loaded nothing else.
  report.commands = vim.fn.exists(":NexusAsk") == 2 and vim.fn.exists(":NexusSessions") == 2
  report.lazy = package.loaded["nexus.client"] == nil and #vim.lsp.get_clients() == 0

  require("nexus").setup(H.options())
  report.events = {}
  vim.api.nvim_create_autocmd("User", {
    pattern = { "NexusTurnStart", "NexusTurnEnd" },
    callback = function(ev)
      table.insert(report.events, ev.match)
    end,
  })
  vim.cmd("edit hello.py")
  local source = vim.api.nvim_get_current_buf()

  -- Count the content updates as they reach the chat (streaming, not one block).
  local updates = 0
  require("nexus.session") -- it installs the router we wrap
  local client_module = require("nexus.client")
  local route = client_module.on_update
  client_module.on_update = function(client_id, params)
    if params.kind == "content" then
      updates = updates + 1
    end
    route(client_id, params)
  end

  local first = H.ask("Say hello")
  report.first = first
  report.content_updates = updates
  report.chat_after_first = H.chat_lines()
  report.dimmed_rows = {}
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(H.state().chat_buf, -1, 0, -1, { details = true })) do
    if mark[4].line_hl_group == "NexusReasoning" then
      table.insert(report.dimmed_rows, mark[2])
    end
  end
  report.chat_filetype = vim.bo[H.state().chat_buf].filetype
  report.chat_visible = vim.fn.bufwinid(H.state().chat_buf) ~= -1
  report.focus_kept = vim.api.nvim_get_current_buf() == source

  -- A range: lines 2-3 of hello.py are sent with the prompt.
  vim.cmd("2,3NexusAsk Explain this")
  H.wait("the range turn", function()
    return not H.state().running and H.chat_has("Second answer.")
  end)
  report.second = H.state().last_result

  -- No prompt: vim.ui.input provides it.
  local input_prompt
  vim.ui.input = function(opts, on_confirm)
    input_prompt = opts.prompt
    on_confirm("Typed question")
  end
  vim.cmd("NexusAsk")
  H.wait("the typed turn", function()
    return not H.state().running and H.chat_has("Third answer.")
  end)
  report.input_prompt = input_prompt
  report.third = H.state().last_result
  report.chat = H.chat_lines()
  report.chat_buffers = #vim.tbl_filter(function(b)
    return vim.api.nvim_buf_get_name(b):find("nexus://chat/", 1, true) ~= nil
  end, vim.api.nvim_list_bufs())
end)
