/**
 * Just enough of the HTML tokenizer to find tags in a stream without being fooled by `</body>` in a
 * comment, a script, a style or an attribute value. Works on latin1 strings (one char per byte, so
 * offsets are byte offsets and UTF-8 passes through untouched) fed chunk by chunk: `scan` returns
 * how far it got, and the caller hands the rest back with the next chunk. What it holds back is
 * bounded (an undecided `<` and a few characters), never a whole tag or script.
 */

export type TagHandler = (name: string, closing: boolean, start: number, end: number) => boolean | undefined;

export type ScanHandlers = {
  /** At the `<` of a tag whose name is known (end is -1). Return true to stop before the tag. */
  tagStart?: TagHandler;
  /** After the `>` of a tag. Return true to stop after it. */
  tagEnd?: TagHandler;
};

/** Elements whose content is text up to their own end tag. */
const RAW_TEXT = new Set(['script', 'style', 'textarea', 'title', 'xmp', 'iframe', 'noembed', 'noframes']);
const NAME_MAX = 16;

const DATA = 0;
const TAG = 1;
const COMMENT = 2;
const RAW = 3;
const BOGUS = 4;

const isAlpha = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 12 || c === 13;

export class HtmlScanner {
  private mode = DATA;
  private quote = 0;
  private afterEq = false;
  private tagName = '';
  private tagClosing = false;
  private tagStart = 0;
  private rawEnd: RegExp | undefined;

  /**
   * Scans `s` from `from`. `base` is the stream offset of `s[0]`, so reported positions are stream
   * offsets. Returns the index in `s` up to which scanning is complete; `final` means no more input.
   */
  scan(s: string, from: number, base: number, final: boolean, on: ScanHandlers): number {
    const n = s.length;
    let i = from;
    while (i < n) {
      switch (this.mode) {
        case DATA: {
          const lt = s.indexOf('<', i);
          if (lt === -1) return n;
          if (lt + 1 >= n) return final ? n : lt;
          const c = s.charCodeAt(lt + 1);
          if (c === 33 /* ! */) {
            if (s.startsWith('<!--', lt)) {
              this.mode = COMMENT;
              i = lt + 4;
            } else if (!final && n - lt < 4 && '<!--'.startsWith(s.slice(lt))) {
              return lt;
            } else {
              this.mode = BOGUS;
              i = lt + 2;
            }
            continue;
          }
          if (c === 63 /* ? */) {
            this.mode = BOGUS;
            i = lt + 2;
            continue;
          }
          const closing = c === 47; /* / */
          const nameStart = closing ? lt + 2 : lt + 1;
          if (nameStart >= n) return final ? n : lt;
          if (!isAlpha(s.charCodeAt(nameStart))) {
            if (closing) {
              // `</>` is dropped, `</ x>` is a bogus comment: neither opens a tag.
              this.mode = BOGUS;
              i = nameStart;
            } else i = lt + 1;
            continue;
          }
          let j = nameStart;
          while (j < n && j - nameStart < NAME_MAX) {
            const d = s.charCodeAt(j);
            if (isSpace(d) || d === 47 || d === 62) break;
            j++;
          }
          if (j === n && !final) return lt; // the name may go on in the next chunk
          const name = s.slice(nameStart, j).toLowerCase();
          if (on.tagStart?.(name, closing, base + lt, -1)) return lt;
          this.mode = TAG;
          this.tagName = name;
          this.tagClosing = closing;
          this.tagStart = base + lt;
          this.quote = 0;
          this.afterEq = false;
          i = j;
          continue;
        }
        case TAG: {
          if (this.quote !== 0) {
            const q = s.indexOf(this.quote === 34 ? '"' : "'", i);
            if (q === -1) return n;
            this.quote = 0;
            i = q + 1;
            continue;
          }
          const c = s.charCodeAt(i);
          if (c === 62 /* > */) {
            i++;
            this.mode = DATA;
            const name = this.tagName;
            if (!this.tagClosing && RAW_TEXT.has(name)) {
              this.mode = RAW;
              this.rawEnd = new RegExp(`</${name}[\\s/>]`, 'gi');
            }
            if (on.tagEnd?.(name, this.tagClosing, this.tagStart, base + i)) return i;
          } else if (c === 61 /* = */) {
            this.afterEq = true;
            i++;
          } else if (this.afterEq && isSpace(c)) {
            i++;
          } else {
            if (this.afterEq && (c === 34 || c === 39)) this.quote = c;
            this.afterEq = false;
            i++;
          }
          continue;
        }
        case COMMENT: {
          const end = s.indexOf('-->', i);
          if (end === -1) return final ? n : Math.max(i, n - 2);
          this.mode = DATA;
          i = end + 3;
          continue;
        }
        case BOGUS: {
          const end = s.indexOf('>', i);
          if (end === -1) return n;
          this.mode = DATA;
          i = end + 1;
          continue;
        }
        default: {
          const re = this.rawEnd!;
          re.lastIndex = i;
          const m = re.exec(s);
          if (!m) return final ? n : Math.max(i, n - (this.tagName.length + 3));
          this.mode = DATA;
          i = m.index;
          continue;
        }
      }
    }
    return n;
  }
}

/** The attributes of one start tag's text (`<meta http-equiv=… content=…>`), names lower-cased. */
export function tagAttributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  const body = tag.replace(/^<[^\s/>]+/, '').replace(/\/?>$/, '');
  const re = /([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    const name = m[1]!.toLowerCase();
    if (!out.has(name)) out.set(name, decodeEntities(m[2] ?? m[3] ?? m[4] ?? ''));
  }
  return out;
}

const ENTITIES: Record<string, string> = { amp: '&', quot: '"', apos: "'", lt: '<', gt: '>' };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (all, e: string) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1));
      return cp > 0 && cp < 0x110000 ? String.fromCodePoint(cp) : all;
    }
    return ENTITIES[e.toLowerCase()] ?? all;
  });
}
