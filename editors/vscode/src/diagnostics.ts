/**
 * The client side of `nexus/editor/diagnostics` (protocol v2 §4): what VS Code's
 * other language servers report, as LSP `Diagnostic`s. The caller passes a
 * reader over `vscode.languages.getDiagnostics`; no `vscode` import here, so the
 * conversion is unit-tested in plain Node.
 */

/** The members of a `vscode.Diagnostic` the conversion reads. */
export interface EditorDiagnostic {
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  message: string;
  /** vscode.DiagnosticSeverity: 0 Error, 1 Warning, 2 Information, 3 Hint. */
  severity: number;
  source?: string;
  code?: string | number | { value: string | number };
}

export interface LspDiagnostic {
  range: EditorDiagnostic['range'];
  message: string;
  /** LSP DiagnosticSeverity: 1 Error, 2 Warning, 3 Information, 4 Hint. */
  severity: number;
  source?: string;
  code?: string | number;
}

/** `uri` undefined: every file VS Code has diagnostics for. */
export type DiagnosticsReader = (
  uri: string | undefined,
) => readonly (readonly [string, readonly EditorDiagnostic[]])[];

export function toLsp(d: EditorDiagnostic): LspDiagnostic {
  const out: LspDiagnostic = {
    range: {
      start: { line: d.range.start.line, character: d.range.start.character },
      end: { line: d.range.end.line, character: d.range.end.character },
    },
    message: d.message,
    severity: d.severity + 1,
  };
  if (d.source) out.source = d.source;
  const code = typeof d.code === 'object' && d.code !== null ? d.code.value : d.code;
  if (code !== undefined) out.code = code;
  return out;
}

/** The answer to `nexus/editor/diagnostics { uris }`; an empty or missing list asks for every file. */
export function editorDiagnostics(
  params: { uris?: unknown },
  read: DiagnosticsReader,
): { items: { uri: string; diagnostics: LspDiagnostic[] }[] } {
  const uris = Array.isArray(params?.uris) ? params.uris.filter((u): u is string => typeof u === 'string') : [];
  const pairs = uris.length === 0 ? read(undefined) : uris.flatMap((uri) => read(uri));
  return {
    items: pairs
      .filter(([, diagnostics]) => uris.length > 0 || diagnostics.length > 0)
      .map(([uri, diagnostics]) => ({ uri, diagnostics: diagnostics.map(toLsp) })),
  };
}
