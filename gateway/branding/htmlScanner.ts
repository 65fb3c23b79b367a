import { ErrorCodes, type ParserError, type Token, type TokenHandler, TokenizerMode } from 'parse5';
import { SAXParser } from 'parse5-sax-parser';

/**
 * Finds tags in a page as a browser does, so that markup Portico adds lands where the browser reads
 * markup, never inside a comment, a script or an attribute value. This is parse5's WHATWG tokenizer
 * with parse5-sax-parser's feedback from tree construction (script, style, title, textarea, noscript
 * and the other raw-text elements, noscript as a browser that runs scripts reads it; CDATA only
 * inside svg and math), not a state machine of our own:
 * a hand-written one read `<!-->`, `--!>` and `<p ="x>` differently from browsers and put the footer
 * inside an attribute value (security review).
 *
 * Cost, measured on 100 KB pages (three real documentation pages and a table in Chinese) fed in
 * 16 KiB chunks, Node 24 on a busy 2-core machine: 3–6 ms of CPU per page, where the hand-written
 * scanner took 0.2–0.7 ms (about ten times less). Only 2xx text/html answers to GET on branded routes
 * pay it, and only up to their `</body>`; a single-page app's index.html of a few KB costs a
 * fraction of a millisecond, and a scanner costs ~6 µs to make.
 *
 * Works on latin1 strings (one char per byte, so offsets are byte offsets and UTF-8 passes through
 * untouched) fed chunk by chunk. Loaded on the first branded page (injectBranding.ts): parse5 costs
 * ~45 ms and ~9 MB when it loads.
 */

export type ScanEvents = {
  /** A start tag ended at `end` (stream offsets; names lower-cased, attributes with references decoded). */
  startTag?(name: string, attrs: Token.Attribute[], start: number, end: number): void;
  /** An end tag from `start` (its `<`) to `end`. */
  endTag?(name: string, start: number, end: number): void;
};

/** States between tokens: all that was fed is settled text. */
const BETWEEN_TOKENS = new Set<number>(Object.values(TokenizerMode));

/**
 * Parse errors whose recovery other readers of HTML (older browsers, scanners, the upstream's own
 * templates) get wrong, and the ones that hide or reveal a quote or a `>`: after one of them,
 * Portico does not trust its reading of what follows enough to put markup in the middle of the page.
 */
const MISLEADING = new Set<string>([
  ErrorCodes.abruptClosingOfEmptyComment, // <!--> and <!--->
  ErrorCodes.incorrectlyClosedComment, // --!>
  ErrorCodes.incorrectlyOpenedComment, // <!x>
  ErrorCodes.cdataInHtmlContent,
  ErrorCodes.unexpectedQuestionMarkInsteadOfTagName, // <?x>
  ErrorCodes.invalidFirstCharacterOfTagName, // </ x>, < x
  ErrorCodes.missingEndTagName, // </>
  ErrorCodes.endTagWithAttributes,
  ErrorCodes.unexpectedEqualsSignBeforeAttributeName, // <p ="x>
  ErrorCodes.unexpectedCharacterInAttributeName, // <p a"b>
  ErrorCodes.unexpectedCharacterInUnquotedAttributeValue, // <p a=b"c>
  ErrorCodes.missingAttributeValue, // <p a=>
  ErrorCodes.abruptDoctypePublicIdentifier,
  ErrorCodes.abruptDoctypeSystemIdentifier,
  ErrorCodes.missingQuoteBeforeDoctypePublicIdentifier,
  ErrorCodes.missingQuoteBeforeDoctypeSystemIdentifier,
  ErrorCodes.invalidCharacterSequenceAfterDoctypeName,
  ErrorCodes.unexpectedCharacterAfterDoctypeSystemIdentifier,
]);

/** How far back an unfinished tag may start and still be held back (see settled()). */
const HOLD_MAX = 1024;

export class HtmlScanner extends SAXParser {
  /** A misleading parse error was met: markup after it is read by the spec, but not trusted. */
  misled = false;
  /** The tokenizer was between tokens in plain text when the input ended. */
  endedInText = false;
  private fed = 0;
  private lastLt = -1;

  constructor(on: ScanEvents) {
    super({ sourceCodeLocationInfo: true });
    (this.parserFeedbackSimulator as TokenHandler).onParseError = (e: ParserError) => {
      if (MISLEADING.has(e.code)) this.misled = true;
    };
    if (on.startTag) {
      const startTag = on.startTag;
      this.on('startTag', (t) =>
        startTag(t.tagName, t.attrs, t.sourceCodeLocation!.startOffset, t.sourceCodeLocation!.endOffset),
      );
    }
    if (on.endTag) {
      const endTag = on.endTag;
      this.on('endTag', (t) =>
        endTag(t.tagName, t.sourceCodeLocation!.startOffset, t.sourceCodeLocation!.endOffset),
      );
    }
  }

  /** Text is not collected: only tags are wanted, and a long script would be copied whole. */
  override onCharacter(): void {}
  override onWhitespaceCharacter(): void {}
  override onNullCharacter(): void {}

  /**
   * Tokenizes the next `chunk` of the stream; `final` ends it. Tag events fire before it returns:
   * the tokenizer is fed directly, as SAXParser's stream side would buffer past its high-water mark.
   */
  feed(chunk: string, final: boolean): void {
    const lt = chunk.lastIndexOf('<');
    if (lt >= 0) this.lastLt = this.fed + lt;
    this.fed += chunk.length;
    if (chunk.length > 0) this.tokenizer.write(chunk, false);
    if (final) {
      this.endedInText = this.tokenizer.state === TokenizerMode.DATA;
      this.tokenizer.write('', true);
    }
  }

  /**
   * The stream offset before which no tag can still start: all that was fed when the tokenizer is
   * between tokens, else the last `<` (an unfinished tag may be the one a caller wants to put
   * something before). A construct longer than HOLD_MAX (a long comment or attribute) is not held
   * back: a caller that learns of a tag starting before what it has sent must cope.
   */
  settled(): number {
    if (BETWEEN_TOKENS.has(this.tokenizer.state)) return this.fed;
    return this.lastLt >= 0 && this.fed - this.lastLt <= HOLD_MAX ? this.lastLt : this.fed;
  }
}
