-- The compiler in the loop: ruff's language server attached beside nexus-lsp;
-- the agent's edit breaks the syntax, ruff reports it to Neovim, and the server
-- gets it through nexus/editor/diagnostics (vim.diagnostic.get).
local H = dofile(vim.fs.dirname(arg[0]) .. "/helpers.lua")

H.run(function(report)
  require("nexus").setup(H.options())
  vim.cmd("edit hello.py")
  local buf = vim.api.nvim_get_current_buf()
  local ruff = vim.lsp.start({
    name = "ruff",
    cmd = { "ruff", "server" },
    root_dir = vim.fn.getcwd(),
  }, { bufnr = buf })
  report.ruff_started = ruff ~= nil
  report.filetype = vim.bo[buf].filetype
  H.wait("ruff to initialize", function()
    local c = vim.lsp.get_client_by_id(ruff)
    return c and c.initialized
  end)

  -- ruff's first (pulled) report of the untouched file.
  H.wait("ruff's first report", function()
    local c = vim.lsp.get_client_by_id(ruff)
    return c and next(c.requests or {}) == nil
  end)
  report.first = H.ask("break it")
  H.wait("ruff's report of the edit", function()
    return #vim.diagnostic.get(buf) > 0
  end, 5000)
  report.buffer = H.buf_text(buf)
  report.diagnostics = vim.tbl_map(function(d)
    return { source = d.source, message = d.message, lnum = d.lnum }
  end, vim.diagnostic.get(buf))
end)
