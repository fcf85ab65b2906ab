" ale.vim: nexus-lsp in a real Vim + ALE, run by tests/editors/test_vim_ale.py
" (vim -Nu NONE -i NONE -es -S ale.vim, in the workspace folder). Environment:
"   NEXUS_TEST_README_VIM  the README's Vim snippet (with the test's server path)
"   NEXUS_TEST_FILE        the file to open
"   NEXUS_TEST_REPORT  where to write the JSON report
" The README's setup, then :ALECodeAction twice: with the buffer saved (the agent's
" edit goes to disk: ALE has no workspace/applyEdit) and with unsaved changes (the
" edit is refused). ALE asks which action with input(): the test answers "1".

set nocompatible
let g:ale_linters_explicit = 1  " only the server under test
let g:ale_lint_on_enter = 0
" The README's setup, as written there (the test put in this venv's server, the
" scripted model's URL and model name)
execute 'source' fnameescape($NEXUS_TEST_README_VIM)
packadd ale  " -u NONE loads no plugins at start-up: load ALE's now
let g:ale_linters = {'python': ['nexus']}

let s:report = {}
let s:shown = []

" The one thing not typed by a person: the answer to ALE's menu of code actions.
runtime autoload/ale/util.vim
function! ale#util#Input(message, value, ...) abort
  return '1'
endfunction
" What ALE shows of window/showMessage: echoed, or a preview window when long.
function! ale#util#ShowMessage(string, ...) abort
  call add(s:shown, a:string)
endfunction

function! s:Wait(what, Predicate) abort
  let l:deadline = reltimefloat(reltime()) + 20.0
  while !a:Predicate() && reltimefloat(reltime()) < l:deadline
    sleep 50m
  endwhile
  if !a:Predicate()
    throw 'timed out waiting for ' . a:what
  endif
endfunction

function! s:Run() abort
  execute 'edit' fnameescape($NEXUS_TEST_FILE)
  set filetype=python
  " 1. saved buffer: the edit is written to disk
  call cursor(2, 5)
  ALECodeAction
  call s:Wait('the first answer', {-> len(s:shown) >= 1})
  let s:report.first = s:shown[0]
  checktime
  let s:report.after_first = getline(1, '$')
  " 2. unsaved changes: the edit is refused, the file untouched
  call setline(1, '# unsaved note')
  ALECodeAction
  call s:Wait('the second answer', {-> len(s:shown) >= 2})
  let s:report.second = s:shown[1]
  let s:report.disk = readfile(expand('%:p'))
  let s:report.modified = &modified
endfunction

try
  call s:Run()
catch
  let s:report.error = v:exception . ' at ' . v:throwpoint
endtry
call writefile([json_encode(s:report)], $NEXUS_TEST_REPORT)
ALEStopAllLSPs
qall!
