// twilio-node against otpgate's TOTP factors (Verify v2 Entities, Factors,
// Challenges), with codes from Debian's oathtool at OTPGATE_NOW (otpgate's
// clock in the test). Prints what it saw as JSON (cmd/otpgate
// TestTwilioNodeTOTP).
const { execFileSync } = require('child_process');
const twilio = require('twilio');
const { OTPGATE_URL: url, OTPGATE_SID: sid, OTPGATE_TOKEN: token, OTPGATE_NOW: now } = process.env;
const client = twilio(sid, token);
client.verify.baseUrl = url; // the one-line change
const totp = (secret, unix) =>
  execFileSync('oathtool', ['--totp', '-b', '-N', new Date(unix * 1000).toISOString().replace('T', ' ').replace(/\..*/, ' UTC'), secret]).toString().trim();
(async () => {
  const out = {};
  const svc = await client.verify.v2.services.create({ friendlyName: 'Node Bank' });
  const entity = client.verify.v2.services(svc.sid).entities('node-user-0001');
  const f = await entity.newFactors.create({ friendlyName: 'Ann', factorType: 'totp' });
  out.created = { sid: f.sid, status: f.status, identity: f.identity, uri: f.binding.uri, hasSecret: !!f.binding.secret, timeStep: f.config.time_step };
  // The previous step's code verifies (one step of skew), so this step's
  // code is new for the challenge.
  const verified = await entity.factors(f.sid).update({ authPayload: totp(f.binding.secret, Number(now) - 30) });
  out.verified = { status: verified.status };
  const code = totp(f.binding.secret, Number(now));
  const c = await entity.challenges.create({ factorSid: f.sid, authPayload: code });
  out.challenge = { sid: c.sid, status: c.status, factorSid: c.factorSid };
  const replay = await entity.challenges.create({ factorSid: f.sid, authPayload: code });
  out.replay = { status: replay.status };
  out.fetched = (await entity.challenges(c.sid).fetch()).status;
  out.factors = (await entity.factors.list()).map(x => ({ sid: x.sid, status: x.status }));
  out.entity = (await entity.fetch()).identity;
  await entity.remove();
  try {
    await entity.factors(f.sid).fetch();
  } catch (e) {
    out.afterDelete = { status: e.status, code: e.code };
  }
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });
