// Unit tests of the prompts the extension composes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fenceFor, selectionPrompt, titleFromPrompt } from '../src/prompts';

describe('prompts', () => {
  it('puts the question first and the selection in a fenced block with its place', () => {
    const prompt = selectionPrompt('Why?', {
      path: 'src/a.py',
      languageId: 'python',
      startLine: 3,
      endLine: 5,
      text: 'def f():\n    return 1',
    });
    assert.equal(prompt, 'Why?\n\nSelection from `src/a.py`, lines 3-5:\n```python\ndef f():\n    return 1\n```');
  });

  it('uses the default question and a single line label', () => {
    const prompt = selectionPrompt('  ', { path: 'a.md', languageId: 'markdown', startLine: 2, endLine: 2, text: 'x\n' });
    assert.match(prompt, /^Explain this code\.\n/);
    assert.match(prompt, /, line 2:\n/);
  });

  it('picks a fence longer than the backticks inside the selection', () => {
    assert.equal(fenceFor('plain'), '```');
    assert.equal(fenceFor('a ```` b'), '`````');
  });

  it('titles a session by the first line of its prompt, shortened', () => {
    assert.equal(titleFromPrompt('  Fix the bug\nin foo'), 'Fix the bug');
    assert.equal(titleFromPrompt(''), 'New chat');
    const long = titleFromPrompt('x'.repeat(100));
    assert.equal(long.length, 60);
    assert.ok(long.endsWith('…'));
  });
});
