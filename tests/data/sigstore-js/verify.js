// Verify a Sigstore bundle with sigstore-js, an implementation independent of scratchpack:
//   node verify.js BUNDLE.json COSIGN.pub SHA256-HEX [PREDICATE-TYPE]
// The key is the only trust material (no transparency log, no certificate authority, no
// timestamp: thresholds 0), found by the bundle's publicKey.hint, which must be
// base64(sha256(PKIX DER)) of this key as cosign computes it. Then the DSSE statement must
// name the expected digest (and, when given, be of that predicate type: an attestation's
// statement, where a signature's is https://sigstore.dev/cosign/sign/v1). Prints "verified" and exits 0; else one line on stderr, exit 1.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const { bundleFromJSON } = require("@sigstore/bundle");
const { Verifier, toSignedEntity, toTrustMaterial } = require("@sigstore/verify");

function main([bundlePath, keyPath, digestHex, predicateType]) {
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, "utf8")));
  const publicKey = crypto.createPublicKey(fs.readFileSync(keyPath, "utf8"));
  const der = publicKey.export({ type: "spki", format: "der" });
  const hint = crypto.createHash("sha256").update(der).digest("base64");
  const keyFinder = (wanted) => {
    if (wanted !== hint) throw new Error(`no key for hint ${wanted} (ours is ${hint})`);
    return { publicKey, validFor: () => true };
  };
  const emptyRoot = {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [],
  };
  const verifier = new Verifier(toTrustMaterial(emptyRoot, keyFinder), {
    tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0,
  });
  verifier.verify(toSignedEntity(bundle));
  const statement = JSON.parse(Buffer.from(bundle.content.dsseEnvelope.payload).toString());
  const named = statement.subject.some((s) => s.digest && s.digest.sha256 === digestHex);
  if (!named) throw new Error(`the statement does not name sha256:${digestHex}`);
  if (predicateType && statement.predicateType !== predicateType) {
    throw new Error(`the statement is of type ${statement.predicateType}, not ${predicateType}`);
  }
  process.stdout.write("verified\n");
}

try {
  main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`sigstore-js: ${err.message}\n`);
  process.exit(1);
}
