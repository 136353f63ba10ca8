// JWT auth tokens (src/store/auth/jwt.ts): every signing family round-trips and refuses what it
// did not sign, expired tokens and tampered claims; the --auth-token option's errors are etcd's.
// The end-to-end comparison with real etcd is test/compat/jwt.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { JwtConfigError, JwtTokens } from '../../src/store/auth/jwt.js';

function keyFiles(kind: 'rsa' | 'ec', curve = 'prime256v1'): Map<string, Buffer> {
  const { privateKey, publicKey } = kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: curve });
  return new Map([
    ['priv.pem', Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)],
    ['pub.pem', Buffer.from(publicKey.export({ type: 'spki', format: 'pem' }) as string)],
  ]);
}

function provider(option: string, files: Map<string, Buffer>, warnings: string[] = []): JwtTokens {
  return JwtTokens.fromOption(option, (w) => warnings.push(w), (p) => {
    const f = files.get(p);
    if (f === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return f;
  });
}

const NOW = 1_800_000_000_000;
const rsa = keyFiles('rsa');

test('RS, PS, ES and HS tokens round-trip; a token is refused by another key, another algorithm, after it expires, or with its claims changed', () => {
  const cases: Array<[string, Map<string, Buffer>]> = [
    ['RS256', rsa], ['RS512', rsa], ['PS256', rsa], ['PS384', rsa],
    ['ES256', keyFiles('ec')], ['ES384', keyFiles('ec', 'secp384r1')],
    ['HS256', new Map([['priv.pem', randomBytes(32)]])],
  ];
  for (const [alg, files] of cases) {
    const p = provider(`jwt,pub-key=${files.has('pub.pem') ? 'pub.pem' : ''},priv-key=priv.pem,sign-method=${alg},ttl=2m`, files);
    const t = p.assign('alice', 7, NOW);
    assert.deepEqual(p.info(t, NOW + 119_000), { username: 'alice', revision: 7 }, alg);
    assert.deepEqual(p.info(t, NOW + 120_999), { username: 'alice', revision: 7 }, `${alg}: valid through its exp second (as in Go)`);
    assert.equal(p.info(t, NOW + 121_000), undefined, `${alg}: expired after its ttl`);
    const [h, c, s] = t.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(c, 'base64url').toString()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(claims), ['exp', 'revision', 'username']);
    const changed = Buffer.from(JSON.stringify({ ...claims, username: 'root' })).toString('base64url');
    assert.equal(p.info(`${h}.${changed}.${s}`, NOW), undefined, `${alg}: claims changed`);
    assert.equal(p.info(`${t}x`, NOW), undefined, `${alg}: signature changed`);
    assert.equal(p.info('not.a.token', NOW), undefined);
    assert.equal(p.info('a.b', NOW), undefined);
  }
  const other = provider('jwt,priv-key=priv.pem,sign-method=RS256', keyFiles('rsa'));
  assert.equal(other.info(provider('jwt,priv-key=priv.pem,sign-method=RS256', rsa).assign('a', 1, NOW), NOW), undefined, 'another key');
  const ps = provider('jwt,priv-key=priv.pem,sign-method=PS256', rsa);
  assert.equal(provider('jwt,priv-key=priv.pem,sign-method=RS256', rsa).info(ps.assign('a', 1, NOW), NOW), undefined, 'another algorithm, same key');
});

test('with both keys, tokens are verified with the private key\'s public half (as etcd does), so a stray pub-key does not break logins', () => {
  const files = new Map([['priv.pem', rsa.get('priv.pem')!], ['pub.pem', keyFiles('rsa').get('pub.pem')!]]);
  const p = provider('jwt,pub-key=pub.pem,priv-key=priv.pem,sign-method=RS256', files);
  assert.deepEqual(p.info(p.assign('carol', 2, NOW), NOW), { username: 'carol', revision: 2 });
});

test('the default ttl is 5 minutes; a public key alone verifies but cannot sign; a private key alone does both', () => {
  const signer = provider('jwt,priv-key=priv.pem,sign-method=RS256', rsa);
  assert.equal(signer.ttlMs, 5 * 60_000);
  const verifier = provider('jwt,pub-key=pub.pem,sign-method=RS256', rsa);
  assert.deepEqual(verifier.info(signer.assign('bob', 3, NOW), NOW), { username: 'bob', revision: 3 });
  assert.throws(() => verifier.assign('bob', 3, NOW), /verify-only key/);
});

test("--auth-token jwt option errors are etcd's; unknown options are warned about", () => {
  const err = (opt: string, files = rsa): string => {
    try {
      provider(opt, files);
    } catch (e) {
      assert.ok(e instanceof JwtConfigError);
      return e.message;
    }
    return 'no error';
  };
  assert.equal(err('jwt'), 'auth: invalid auth signature method');
  assert.equal(err('jwt,pub-key=pub.pem,priv-key=priv.pem'), 'auth: invalid auth signature method');
  assert.equal(err('jwt,priv-key=priv.pem,sign-method=XX256'), 'auth: invalid auth signature method');
  assert.equal(err('jwt,priv-key=priv.pem,sign-method=ES256'), 'key is not a valid ECDSA private key');
  assert.equal(err('jwt,pub-key=pub.pem,sign-method=RS256', keyFiles('ec')), 'key is not a valid RSA public key');
  assert.equal(err('jwt,pub-key=nope.pem,priv-key=priv.pem,sign-method=RS256'), 'open nope.pem: no such file or directory');
  assert.equal(err('jwt,priv-key=priv.pem,sign-method=RS256,ttl=xx'), 'time: invalid duration "xx"');
  assert.equal(err('jwt,sign-method=RS256'), 'auth: missing key data');
  assert.equal(err('jwt,sign-method=ES256'), 'auth: missing key data');
  // An empty key file is no key: an empty HMAC secret would let anyone sign.
  assert.equal(err('jwt,priv-key=empty,sign-method=HS256', new Map([['empty', Buffer.alloc(0)]])), 'auth: missing key data');
  assert.equal(err('jwt,priv-key=priv.pem,sign-method=ES256', keyFiles('ec', 'secp384r1')), 'key is invalid (ES256 needs curve prime256v1)');
  const warnings: string[] = [];
  provider('jwt,priv-key=priv.pem,sign-method=RS256,foo=bar', rsa, warnings);
  assert.deepEqual(warnings, ['auth: unknown JWT options: [foo]']);
});
