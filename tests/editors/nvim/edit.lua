-- An edit_file tool call lands in the open buffer through workspace/applyEdit;
-- without write_on_edit the file on disk is untouched, with it the buffer is written.
local H = dofile(vim.fs.dirname(arg[0]) .. "/helpers.lua")

H.run(function(report)
  require("nexus").setup(H.options({ write_on_edit = false, progress = { notify = true } }))
  -- What fidget.nvim and statuslines see: the LspProgress autocmd.
  report.progress = {}
  vim.api.nvim_create_autocmd("LspProgress", {
    callback = function(ev)
      local value = ev.data.params.value
      table.insert(report.progress, {
        token = tostring(ev.data.params.token),
        kind = value.kind,
        title = value.title,
        message = value.message or vim.NIL,
        percentage = value.percentage or vim.NIL,
        cancellable = value.cancellable or vim.NIL,
      })
    end,
  })
  vim.cmd("edit b.py")
  local b = vim.api.nvim_get_current_buf()
  vim.cmd("edit a.py")
  local a = vim.api.nvim_get_current_buf()

  report.first = H.ask("Rename in a.py")
  report.a_buffer = H.buf_text(a)
  report.a_modified = vim.bo[a].modified
  report.a_disk = H.read_file("a.py")
  report.a_attached = #vim.lsp.get_clients({ bufnr = a, name = "nexus" }) == 1

  require("nexus").setup(H.options({ write_on_edit = true, progress = { notify = true } }))
  report.second = H.ask("Rename in b.py")
  report.b_buffer = H.buf_text(b)
  report.b_modified = vim.bo[b].modified
  report.b_disk = H.read_file("b.py")
  report.chat = H.chat_lines()
end)
