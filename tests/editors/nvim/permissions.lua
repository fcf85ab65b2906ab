-- Permission questions through vim.ui.select: allow and reject a real
-- run_command, its output streamed under its tool line; :NexusPermissions lists
-- and revokes the grant; :NexusMode; a question withdrawn by a cancel.
local H = dofile(vim.fs.dirname(arg[0]) .. "/helpers.lua")

H.run(function(report)
  require("nexus").setup(H.options())
  report.mode_completion = vim.fn.getcompletion("NexusMode a", "cmdline")

  -- The picker: records each question, answers with the next planned option.
  local plan = {}
  report.questions = {}
  vim.ui.select = function(items, opts, on_choice)
    local names = {}
    for _, item in ipairs(items) do
      names[#names + 1] = opts.format_item and opts.format_item(item) or tostring(item)
    end
    table.insert(report.questions, { prompt = opts.prompt, kind = opts.kind, items = names })
    local answer = table.remove(plan, 1)
    if answer == "hang" then
      -- A picker in a floating window that the user never answers.
      local buf = vim.api.nvim_create_buf(false, true)
      report.picker_win = vim.api.nvim_open_win(buf, true, {
        relative = "editor", row = 1, col = 1, width = 30, height = 4,
      })
      return
    end
    for _, item in ipairs(items) do
      local id = type(item) == "table" and (item.optionId or item.id) or item
      if id == answer or answer == "first" then
        -- Answered later, as a real picker does.
        vim.defer_fn(function()
          on_choice(item)
        end, 10)
        return
      end
    end
    on_choice(nil)
  end

  plan = { "allow_once" }
  report.first = H.ask("run the failing script")
  report.chat_first = H.chat_lines()

  plan = { "reject_once" }
  report.second = H.ask("touch a file")

  plan = { "allow_always" }
  report.third = H.ask("list")

  -- The grant is stored: the same command line runs without a question.
  local asked = #report.questions
  report.fourth = H.ask("list again")
  report.asked_for_fourth = #report.questions - asked

  local revoked
  plan = { "first" }
  require("nexus.permission").manage(function(choice)
    revoked = choice or vim.NIL
  end)
  H.wait("the revoke", function()
    return revoked ~= nil
  end)
  report.revoked = revoked

  -- auto mode: nothing asks.
  vim.cmd("NexusMode auto")
  H.wait("the mode change", function()
    return H.state().mode_session ~= nil
  end)
  asked = #report.questions
  report.fifth = H.ask("in auto mode")
  report.asked_in_auto = #report.questions - asked

  -- Back to default; the question hangs; :NexusCancel withdraws it.
  vim.cmd("NexusMode default")
  H.wait("the mode change back", function()
    return H.state().mode_session ~= nil
  end)
  plan = { "hang" }
  local previous = vim.api.nvim_get_current_win()
  vim.cmd("NexusAsk touch while asking")
  H.wait("the question", function()
    return report.picker_win ~= nil and require("nexus.permission").pending_count() == 1
  end)
  report.chat_asking = H.chat_lines()
  report.pending_ids = require("nexus.permission").pending_ids()
  vim.cmd("NexusCancel")
  H.wait("the withdrawal", function()
    return require("nexus.permission").pending_count() == 0 and not H.state().running
  end)
  report.picker_closed = not vim.api.nvim_win_is_valid(report.picker_win)
  report.back_in_window = vim.api.nvim_get_current_win() == previous
  report.chat = H.chat_lines()
end)
