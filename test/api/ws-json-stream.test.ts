// Request bodies of the gateway over WebSocket (src/api/v3/json-stream.ts): JSON values read from
// the stream of messages as Go's json.Decoder reads them, with Go's syntax error messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GoJsonStream, JSON_STREAM_PART_COST_BYTES, type JsonStreamItem } from '../../src/api/v3/json-stream.js';

/** Everything the stream gives after each message, in order. */
function read(messages: Array<string | Buffer>, bytesMax = 1 << 20): JsonStreamItem[][] {
  const s = new GoJsonStream(bytesMax);
  return messages.map((m) => {
    assert.ok(s.pushMessage(typeof m === 'string' ? Buffer.from(m) : m));
    const out: JsonStreamItem[] = [];
    for (let it = s.next(); it !== undefined; it = s.next()) {
      out.push(it);
      if ('error' in it) break;
    }
    return out;
  });
}

const err = (e: string): JsonStreamItem => ({ error: e });

test('values: one per message, several in one, one across messages, blank messages, top-level scalars', () => {
  assert.deepEqual(read(['{"a":1}']), [[{ value: { a: 1 } }]]);
  assert.deepEqual(read(['{"a":1} {"b":[2,3]}', '']), [[{ value: { a: 1 } }, { value: { b: [2, 3] } }], []]);
  assert.deepEqual(read(['{"key":', '"x"}']), [[], [{ value: { key: 'x' } }]]);
  assert.deepEqual(read(['  ', '123', 'true null', '"s"-1.5e3']), [[], [{ value: 123 }], [{ value: true }, { value: null }], [{ value: 's' }, { value: -1500 }]]);
  // A number is whole only once something follows it: the newline after each message.
  assert.deepEqual(read(['[1,', '2]']), [[], [{ value: [1, 2] }]]);
});

test("syntax errors in Go's words", () => {
  const cases: Array<[string | Buffer, string]> = [
    ['not json', "invalid character 'o' in literal null (expecting 'u')"],
    ['x', "invalid character 'x' looking for beginning of value"],
    ['{"a" 1}', "invalid character '1' after object key"],
    ['{"a":1 "b":2}', `invalid character '"' after object key:value pair`],
    ['[1 2]', "invalid character '2' after array element"],
    ['{1:2}', "invalid character '1' looking for beginning of object key string"],
    ['"a\u0001"', "invalid character '\\x01' in string literal"],
    ['"\\q"', "invalid character 'q' in string escape code"],
    ['"\\u12x4"', "invalid character 'x' in \\u hexadecimal character escape"],
    ['-x', "invalid character 'x' in numeric literal"],
    ['1.x', "invalid character 'x' after decimal point in numeric literal"],
    ['1ex', "invalid character 'x' in exponent of numeric literal"],
    ['tru', "invalid character '\\n' in literal true (expecting 'e')"],
    ['{"a":fals}', "invalid character '}' in literal false (expecting 'e')"],
    [Buffer.from([0xff]), "invalid character 'ÿ' looking for beginning of value"],
    ["'", "invalid character '\\'' looking for beginning of value"],
  ];
  for (const [input, want] of cases) assert.deepEqual(read([input]).flat(), [err(want)], String(input));
  // A value before the error is still given.
  assert.deepEqual(read(['{} }']), [[{ value: {} }, err("invalid character '}' looking for beginning of value")]]);
});

test('bounded: a value in progress may not pass bytesMax, each part held counted at its cost', () => {
  // Two parts a message (it and the newline after it).
  const max = 64 + 4 * JSON_STREAM_PART_COST_BYTES;
  const s = new GoJsonStream(max);
  assert.ok(s.pushMessage(Buffer.from('["' + 'a'.repeat(40) + '",')));
  assert.equal(s.next(), undefined);
  assert.equal(s.pushMessage(Buffer.from('"' + 'b'.repeat(30) + '"]')), false);
  // Tiny messages: the part cost bounds how many are held.
  const tiny = new GoJsonStream(100 * JSON_STREAM_PART_COST_BYTES);
  assert.ok(tiny.pushMessage(Buffer.from('[')));
  let held = 0;
  while (tiny.pushMessage(Buffer.from(' '))) held++;
  assert.ok(held < 50, `${held} one-byte messages held`);
  // Whole values are dropped once read; blanks between them are not held.
  const t = new GoJsonStream(max);
  for (let i = 0; i < 1000; i++) {
    assert.ok(t.pushMessage(Buffer.from('{"k":"' + 'v'.repeat(40) + '"}')));
    assert.deepEqual(t.next(), { value: { k: 'v'.repeat(40) } });
    assert.equal(t.next(), undefined);
    assert.ok(t.pushMessage(Buffer.from('   ')));
    assert.equal(t.next(), undefined);
  }
  assert.equal(t.bufferedBytes, 0);
});
