// A real OpenID provider (node's certified `oidc-provider`) for the end-to-end SSO tests.
//
// Started by tests/support/oidc_provider.py; it can also be run by hand:
//
//   OIDC_CLIENT='{"client_id":"chat","client_secret":"s3cret","redirect_uris":["http://127.0.0.1:8501/"]}' \
//     node provider.mjs --port 0 --mode normal
//
// Options (argv wins over env):
//   --port N     / OIDC_PORT     loopback port; 0 (the default) lets the OS pick one
//   --client J   / OIDC_CLIENT   JSON client metadata (client_id, client_secret, redirect_uris, ...)
//   --mode M     / OIDC_MODE     normal | bad-signature | expired | not-yet-valid | wrong-issuer
//                                | wrong-metadata-issuer (see MODES below)
//   --skew S     / OIDC_SKEW_SECONDS  size of the clock skew of expired / not-yet-valid (default 600)
//
// Prints exactly one line `ready <issuer>` on stdout once it listens; everything else goes to
// stderr. Login: the built-in development interaction (devInteractions) form accepts any login
// name with any password; the account's claims are derived from that login name.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { ExternalSigningKey } from 'oidc-provider';

const MODES = {
  // a well-behaved provider
  normal: 'normal',
  // ID tokens are signed with a private key whose public half is NOT the one in the JWKS
  // (the JWKS publishes another key under the same kid)
  'bad-signature': 'bad-signature',
  // the provider's clock runs --skew seconds behind and ID tokens live 60 s: they arrive expired
  expired: 'expired',
  // the provider's clock runs --skew seconds ahead: iat (and auth_time) lie in the future
  'not-yet-valid': 'not-yet-valid',
  // tokens carry iss `<issuer>/wrong-issuer` while discovery advertises `<issuer>`
  'wrong-issuer': 'wrong-issuer',
  // discovery and tokens consistently say `http://localhost:<port>`, not the `http://127.0.0.1:<port>`
  // they are fetched from (an RP must compare the metadata's issuer with the one it was configured with)
  'wrong-metadata-issuer': 'wrong-metadata-issuer',
};

const { values: argv } = parseArgs({
  options: {
    port: { type: 'string' },
    client: { type: 'string' },
    mode: { type: 'string' },
    skew: { type: 'string' },
  },
  strict: true,
});

const port = Number(argv.port ?? process.env.OIDC_PORT ?? 0);
const mode = argv.mode ?? process.env.OIDC_MODE ?? 'normal';
const skewSeconds = Number(argv.skew ?? process.env.OIDC_SKEW_SECONDS ?? 600);
const clientJson = argv.client ?? process.env.OIDC_CLIENT;

if (!Object.hasOwn(MODES, mode)) {
  console.error(`unknown mode ${JSON.stringify(mode)}; one of ${Object.keys(MODES).join(', ')}`);
  process.exit(2);
}
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`bad port ${JSON.stringify(argv.port ?? process.env.OIDC_PORT)}`);
  process.exit(2);
}
if (!clientJson) {
  console.error('no client: pass --client JSON or OIDC_CLIENT');
  process.exit(2);
}
const clientInput = JSON.parse(clientJson);
for (const field of ['client_id', 'client_secret', 'redirect_uris']) {
  if (!clientInput[field]) {
    console.error(`client JSON lacks ${field}`);
    process.exit(2);
  }
}
const client = {
  response_types: ['code'],
  grant_types: ['authorization_code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: 'RS256',
  // pairwise: `sub` is an opaque hash of the login (see subFor), not the login itself
  subject_type: 'pairwise',
  ...clientInput,
};

// Clock skew: the whole provider runs on a shifted clock, as a provider with a wrong clock would.
// oidc-provider takes every timestamp (iat, exp, auth_time, its stores' expiry, cookie expiry)
// from Date.now(), so its own flow stays consistent; only the relying party sees the skew.
if (mode === 'expired' || mode === 'not-yet-valid') {
  const offsetMs = (mode === 'expired' ? -1 : 1) * skewSeconds * 1000;
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + offsetMs;
}

function rsaJwk(privateKey, kid) {
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

const kid = `test-${crypto.randomBytes(4).toString('hex')}`;
const published = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
let signingKey;
if (mode === 'bad-signature') {
  // The JWKS shows `published`'s public key; tokens are signed with this other private key.
  const rogue = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  class MismatchedKey extends ExternalSigningKey {
    constructor() {
      super();
      this.kid = kid;
      this.alg = 'RS256';
    }

    keyObject() {
      return published.publicKey;
    }

    async sign(data) {
      return crypto.sign('sha256', data, rogue.privateKey);
    }
  }
  signingKey = new MismatchedKey();
} else {
  signingKey = rsaJwk(published.privateKey, kid);
}

function subFor(login) {
  // Stable and opaque, like a real provider's subject identifier. oidc-provider always sets
  // sub = accountId (= the login typed in the dev form) for public subject types, so the opaque
  // value comes in through the pairwise-identifier hook; it ignores the sector so that tests can
  // compute it (tests/support/oidc_provider.py: OidcProvider.sub_for).
  return crypto.createHash('sha256').update(`chat-tests:${login}`).digest('hex').slice(0, 32);
}

async function findAccount(ctx, accountId) {
  // accountId is whatever was typed in the dev login form's `login` field
  if (typeof accountId !== 'string' || !accountId) return undefined;
  return {
    accountId,
    async claims() {
      return {
        sub: accountId, // replaced by subFor(accountId) through pairwiseIdentifier
        preferred_username: accountId,
        name: `Test User ${accountId}`,
        email: accountId.includes('@') ? accountId : `${accountId}@example.test`,
        email_verified: true,
      };
    },
  };
}

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const { port: boundPort } = server.address();
const issuer = `http://127.0.0.1:${boundPort}`;
let providerIssuer = issuer;
if (mode === 'wrong-issuer') providerIssuer = `${issuer}/wrong-issuer`;
if (mode === 'wrong-metadata-issuer') providerIssuer = `http://localhost:${boundPort}`;

const provider = new Provider(providerIssuer, {
  clients: [client],
  findAccount,
  subjectTypes: ['public', 'pairwise'],
  pairwiseIdentifier: (ctx, accountId) => subFor(accountId),
  jwks: { keys: [signingKey] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'profile', 'email'],
  responseTypes: ['code'],
  // put the scopes' claims into the ID token too (not only at userinfo), as most providers do
  conformIdTokenClaims: false,
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
    revocation: { enabled: false },
    introspection: { enabled: false },
    ...(mode === 'bad-signature'
      ? { externalSigningSupport: { enabled: true, ack: 'experimental-01' } }
      : {}),
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: mode === 'expired' ? 60 : 3600,
    Interaction: 3600,
    Session: 86400,
    Grant: 86400,
  },
});

// The built-in pages (login, consent, errors, logout) @import a Google web font. The test browser
// must reach nothing but loopback addresses, so strip any such external import from HTML bodies.
provider.use(async (ctx, next) => {
  await next();
  if (typeof ctx.body === 'string' && ctx.body.includes('@import url(http')) {
    ctx.body = ctx.body.replace(/@import url\(https?:\/\/[^)]*\);?/g, '');
  }
});

if (mode === 'wrong-issuer') {
  // Tokens are issued as `<issuer>/wrong-issuer` (the provider's real configuration), but the
  // discovery document claims to be `<issuer>`.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/.well-known/openid-configuration' && ctx.body && typeof ctx.body === 'object') {
      ctx.body = { ...ctx.body, issuer };
    }
  });
}

for (const event of ['server_error', 'grant.error', 'authorization.error', 'userinfo.error']) {
  provider.on(event, (ctx, error) => {
    console.error(`oidc-provider ${event}: ${error?.stack ?? error}`);
  });
}

// static clients are validated lazily; check ours now so that bad metadata fails at startup
try {
  if (!await provider.Client.find(client.client_id)) throw new Error('client not found');
} catch (error) {
  console.error(`invalid client metadata: ${error.message} ${error.error_description ?? ''}`);
  if (String(error.error_description).includes('sector_identifier_uri')) {
    console.error('pairwise subjects need all redirect_uris on one host; or pass subject_type "public" (then sub = login)');
  }
  process.exit(2);
}

server.on('request', provider.callback());

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

console.error(`oidc-provider mode=${mode} issuer=${providerIssuer} client=${client.client_id}`);
process.stdout.write(`ready ${issuer}\n`);
