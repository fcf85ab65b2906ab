--- The LSP client side: one `nexus` server per workspace root, started on
--- first use and reused after; request helpers that work on Neovim 0.10 and
--- 0.11+; the handlers for `nexus/session/update` and `workspace/applyEdit`.
local protocol = require("nexus.protocol")
local config = require("nexus.config")

local M = {}

M.NAME = "nexus"

--- The optional protocol v2 features this plugin implements, declared in
--- `initializationOptions.clientFeatures`.
M.FEATURES = {
  [protocol.FEATURE_PERMISSION_REQUESTS] = true,
  [protocol.FEATURE_USAGE] = true,
  [protocol.FEATURE_DIAGNOSTICS] = true,
}

local api = vim.api
local has_011 = vim.fn.has("nvim-0.11") == 1

--- Called with (client_id, params) for every `nexus/session/update`; set by nexus.session.
---@type fun(client_id: integer, params: table)|nil
M.on_update = nil
--- Called with (root, code, signal) when a server exits; set by nexus.session.
---@type fun(root: string, code: integer, signal: integer)|nil
M.on_exit = nil

--- Callbacks waiting for a server that is still initializing, by client id.
---@type table<integer, fun(client: vim.lsp.Client|nil, err: string|nil)[]>
local waiting = {}

-- Client methods are called with `:` from 0.11 on; 0.10 has plain functions.
local function call(client, method, ...)
  if has_011 then
    return client[method](client, ...)
  end
  return client[method](...)
end

---@param client vim.lsp.Client
---@param method string
---@param params table
---@param handler fun(err: table|nil, result: any)
---@return boolean ok, integer|nil request_id
function M.request(client, method, params, handler)
  return call(client, "request", method, params, function(err, result)
    handler(err, result)
  end, 0)
end

---@param client vim.lsp.Client
---@param id integer
function M.cancel_request(client, id)
  return call(client, "cancel_request", id)
end

---@param client vim.lsp.Client
function M.notify(client, method, params)
  return call(client, "notify", method, params)
end

--- Whether the server said it uses an optional client feature (its initialize
--- result's `experimental.nexus.clientFeatures`, protocol v2): servers that do
--- also take attachments, queue and steer (protocol v2 §4).
---@param client vim.lsp.Client|nil
---@param feature string
---@return boolean
function M.uses(client, feature)
  local caps = client and client.server_capabilities or {}
  local nexus = type(caps.experimental) == "table" and caps.experimental.nexus or nil
  local used = type(nexus) == "table" and nexus.clientFeatures or nil
  return type(used) == "table" and vim.tbl_contains(used, feature)
end

--- An empty JSON object: `{}` would be sent as an array.
---@param t table|nil
local function object(t)
  if t == nil or next(t) == nil then
    return vim.empty_dict()
  end
  return t
end
M.object = object

--- The workspace root for a buffer: the chat buffer remembers its root, a file
--- buffer looks up the root markers, anything else searches from the cwd.
---@param bufnr integer|nil
---@return string
function M.root_for(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local remembered = vim.b[bufnr].nexus_root
  if type(remembered) == "string" then
    return remembered
  end
  local markers = config.options.root_markers
  local root
  if vim.bo[bufnr].buftype == "" and api.nvim_buf_get_name(bufnr) ~= "" then
    root = vim.fs.root(bufnr, markers)
  end
  local cwd = vim.fn.getcwd()
  root = root or vim.fs.root(cwd, markers) or cwd
  return vim.fs.normalize(root)
end

---@param root string
---@return vim.lsp.Client|nil
function M.get(root)
  for _, client in ipairs(vim.lsp.get_clients({ name = M.NAME })) do
    if client.root_dir == root then
      return client
    end
  end
  return nil
end

--- Paths touched by a WorkspaceEdit, as buffer numbers of loaded buffers.
---@param edit table lsp.WorkspaceEdit
---@return integer[]
function M.touched_buffers(edit)
  local uris = {}
  for uri in pairs(edit.changes or {}) do
    uris[#uris + 1] = uri
  end
  for _, change in ipairs(edit.documentChanges or {}) do
    if change.textDocument then
      uris[#uris + 1] = change.textDocument.uri
    elseif change.kind == "create" then
      uris[#uris + 1] = change.uri
    elseif change.kind == "rename" then
      uris[#uris + 1] = change.newUri
    end
  end
  local seen, buffers = {}, {}
  for _, uri in ipairs(uris) do
    local bufnr = vim.fn.bufnr(vim.uri_to_fname(uri))
    if bufnr > 0 and not seen[bufnr] and api.nvim_buf_is_loaded(bufnr) then
      seen[bufnr] = true
      buffers[#buffers + 1] = bufnr
    end
  end
  return buffers
end

local function write_buffers(buffers)
  for _, bufnr in ipairs(buffers) do
    if vim.bo[bufnr].modified then
      local ok, err = pcall(api.nvim_buf_call, bufnr, function()
        vim.cmd("silent keepalt write")
      end)
      if not ok then
        vim.notify(
          string.format("nexus: could not write %s: %s", api.nvim_buf_get_name(bufnr), err),
          vim.log.levels.WARN
        )
      end
    end
  end
end

-- A text ending in a newline inserted into a file the edit created leaves an
-- empty last line, which 'eol' then doubles ("x\n" would be written "x\n\n",
-- and the server, its journal and a later revert would see a file it never
-- wrote): drop it, in the edit's undo block. Only created files: elsewhere an
-- empty last line is the file's own.
local function fix_final_newline(edit)
  local buffers = {}
  for _, change in ipairs(edit.documentChanges or {}) do
    if change.kind == "create" and change.uri then
      local bufnr = vim.fn.bufnr(vim.uri_to_fname(change.uri))
      if bufnr > 0 and api.nvim_buf_is_loaded(bufnr) then
        buffers[#buffers + 1] = bufnr
      end
    end
  end
  for _, bufnr in ipairs(buffers) do
    local count = api.nvim_buf_line_count(bufnr)
    local eol = vim.bo[bufnr].eol or (vim.bo[bufnr].fixeol and not vim.bo[bufnr].binary)
    if eol and count > 1 and api.nvim_buf_get_lines(bufnr, count - 1, count, false)[1] == "" then
      api.nvim_buf_call(bufnr, function()
        pcall(vim.cmd, "undojoin")
        api.nvim_buf_set_lines(bufnr, count - 1, count, false, {})
      end)
    end
  end
end
M.fix_final_newline = fix_final_newline

-- Neovim applies workspace edits to buffers without saving them: wrap the
-- default handler (whatever it is at call time) and save when asked to.
local function apply_edit(err, params, ctx)
  local result = vim.lsp.handlers["workspace/applyEdit"](err, params, ctx)
  if type(result) == "table" and result.applied then
    fix_final_newline(params.edit or {})
    if config.options.write_on_edit then
      write_buffers(M.touched_buffers(params.edit or {}))
    end
  end
  return result
end

local function on_update(_, params, ctx)
  if M.on_update and type(params) == "table" then
    M.on_update(ctx.client_id, params)
  end
end

--- Attach the server to a file buffer of its workspace, so it sees unsaved
--- text (read_file) and sends versioned edits.
---@param bufnr integer
function M.attach_buffer(bufnr)
  if not config.options.attach_buffers or not api.nvim_buf_is_loaded(bufnr) then
    return
  end
  if vim.bo[bufnr].buftype ~= "" then
    return
  end
  local name = api.nvim_buf_get_name(bufnr)
  if name == "" then
    return
  end
  name = vim.fs.normalize(name)
  for _, client in ipairs(vim.lsp.get_clients({ name = M.NAME })) do
    local root = client.root_dir
    if root and vim.startswith(name, root .. "/") then
      vim.lsp.buf_attach_client(bufnr, client.id)
    end
  end
end

local group = api.nvim_create_augroup("nexus_client", { clear = true })
api.nvim_create_autocmd({ "BufReadPost", "BufNewFile", "BufFilePost" }, {
  group = group,
  callback = function(ev)
    if #vim.lsp.get_clients({ name = M.NAME }) > 0 then
      M.attach_buffer(ev.buf)
    end
  end,
})

local function flush(client_id, client, err)
  local callbacks = waiting[client_id] or {}
  waiting[client_id] = nil
  for _, callback in ipairs(callbacks) do
    callback(client, err)
  end
end

---@param root string
---@return integer|nil client id
---@return string|nil why it did not start
local function start(root)
  require("nexus.progress")
  local opts = config.options
  local cmd, origin = require("nexus.locate").server_cmd(opts.cmd, root)
  if not cmd then
    return nil, require("nexus.locate").not_found(origin)
  end
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  if opts.capabilities then
    capabilities = vim.tbl_deep_extend("force", capabilities, opts.capabilities)
  end
  local settings = object(vim.deepcopy(opts.settings))
  -- clientFeatures rides with the settings in initializationOptions (the
  -- server takes it out before reading them); workspace/configuration has none.
  local init_options = vim.deepcopy(opts.settings)
  init_options[protocol.CLIENT_FEATURES] = vim.deepcopy(M.FEATURES)
  local permission = require("nexus.permission")
  local lsp_config = {
    name = M.NAME,
    cmd = cmd,
    cmd_env = opts.cmd_env,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    capabilities = capabilities,
    init_options = init_options,
    -- Answers workspace/configuration for section "nexus".
    settings = { [protocol.SETTINGS_SECTION] = settings },
    handlers = {
      [protocol.SESSION_UPDATE] = on_update,
      ["workspace/applyEdit"] = apply_edit,
      [protocol.PERMISSION_REQUEST] = permission.handle_request,
      ["$/cancelRequest"] = permission.handle_cancel,
      [protocol.EDITOR_DIAGNOSTICS] = require("nexus.context").handle_diagnostics,
    },
    on_attach = opts.on_attach,
    on_init = function(client)
      for _, bufnr in ipairs(api.nvim_list_bufs()) do
        M.attach_buffer(bufnr)
      end
      flush(client.id, client, nil)
    end,
    on_exit = function(code, signal, client_id)
      vim.schedule(function()
        flush(client_id, nil, string.format("the nexus server exited (code %d)", code))
        if M.on_exit then
          M.on_exit(root, code, signal)
        end
      end)
    end,
  }
  local failed = string.format(
    "could not start the nexus server (%s): is it installed? See :checkhealth nexus",
    table.concat(cmd, " ")
  )
  if has_011 then
    local id = vim.lsp.start(lsp_config, {
      attach = false,
      silent = true,
      reuse_client = function(client, conf)
        return client.name == conf.name and client.root_dir == conf.root_dir
      end,
    })
    return id, not id and failed or nil
  end
  ---@diagnostic disable-next-line: deprecated
  local ok, id = pcall(vim.lsp.start_client, lsp_config)
  if ok and id then
    return id, nil
  end
  return nil, failed
end

--- Give running servers the current settings: they answer the next
--- workspace/configuration and are told with workspace/didChangeConfiguration.
function M.push_settings()
  local settings = object(vim.deepcopy(config.options.settings))
  for _, client in ipairs(vim.lsp.get_clients({ name = M.NAME })) do
    client.settings = { [protocol.SETTINGS_SECTION] = settings }
    if client.initialized then
      M.notify(client, "workspace/didChangeConfiguration", { settings = client.settings })
    end
  end
end

--- Run `callback(client, nil)` once the server for `root` is initialized,
--- starting it when needed, or `callback(nil, err)` when it cannot start.
---@param root string
---@param callback fun(client: vim.lsp.Client|nil, err: string|nil)
function M.with_client(root, callback)
  local client = M.get(root)
  if client and client.initialized then
    callback(client, nil)
    return
  end
  local id, err
  if client then
    id = client.id
  else
    id, err = start(root)
  end
  if not id then
    callback(nil, err)
    return
  end
  waiting[id] = waiting[id] or {}
  table.insert(waiting[id], callback)
end

return M
