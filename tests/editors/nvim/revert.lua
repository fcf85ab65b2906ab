-- :NexusFork and :NexusRevert through the real server: a fork from turn 1, then
-- back in the first session the last turn reverted (the server picks it), then
-- turn 1 (an edit undone, a created file deleted).
local H = dofile(vim.fs.dirname(arg[0]) .. "/helpers.lua")

local function wait_done(what, start)
  local result
  start(function(r)
    result = r or vim.NIL
  end)
  H.wait(what, function()
    return result ~= nil
  end)
  return result
end

H.run(function(report)
  require("nexus").setup(H.options({ write_on_edit = true }))
  local checkpoints = require("nexus.checkpoints")
  local session = require("nexus.session")

  report.first = H.ask("first question")
  report.new_after_first = H.read_file("new.txt")
  report.second = H.ask("second question")
  local original = H.state().session_id

  report.fork = wait_done("the fork", function(done)
    checkpoints.fork(session.current(), 1, done)
  end)
  report.fork_session = H.state().session_id
  report.chat_after_fork = H.chat_lines()

  wait_done("the original session", function(done)
    require("nexus.sessions").load(session.current(), original, done)
  end)
  report.revert_last = wait_done("the revert of the last turn", function(done)
    checkpoints.revert(session.current(), nil, done)
  end)
  report.b_after_first_revert = H.read_file("b.py")
  report.chat_after_first_revert = H.chat_lines()

  vim.cmd("NexusRevert 1")
  H.wait("the revert of turn 1", function()
    return H.chat_has("reverted turn 1")
  end)
  report.a_after = H.read_file("a.py")
  report.new_exists = vim.uv.fs_stat("new.txt") ~= nil
  report.chat = H.chat_lines()
end)
