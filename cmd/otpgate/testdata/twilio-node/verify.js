// twilio-node against otpgate's Verify v2: the one-line change is the
// domain's baseUrl. Prints what it saw as JSON (cmd/otpgate TestTwilioNodeSDK).
const twilio = require('twilio');
const { OTPGATE_URL: url, OTPGATE_SID: sid, OTPGATE_TOKEN: token } = process.env;
const client = twilio(sid, token);
client.verify.baseUrl = url; // the one-line change
(async () => {
  const out = {};
  const svc = await client.verify.v2.services.create({ friendlyName: 'Node App', codeLength: 6 });
  out.service = { sid: svc.sid, friendlyName: svc.friendlyName, codeLength: svc.codeLength };
  const v = await client.verify.v2.services(svc.sid).verifications.create({ to: '+962790340001', channel: 'sms' });
  out.verification = { sid: v.sid, status: v.status, attempts: v.sendCodeAttempts.length };
  let code;
  for (let i = 0; i < 50 && !code; i++) {
    const r = await fetch(url + '/sandbox/messages?to=0790340001', { headers: { Authorization: 'Basic ' + Buffer.from(sid + ':' + token).toString('base64') } });
    const m = (await r.json()).messages[0];
    code = m && m.body.match(/\d{4,10}/)[0];
    if (!code) await new Promise(r => setTimeout(r, 50));
  }
  const wrong = await client.verify.v2.services(svc.sid).verificationChecks.create({ to: '+962790340001', code: code === '000000' ? '111111' : '000000' });
  out.wrong = { status: wrong.status, valid: wrong.valid };
  const right = await client.verify.v2.services(svc.sid).verificationChecks.create({ verificationSid: v.sid, code });
  out.right = { status: right.status, valid: right.valid };
  out.listed = (await client.verify.v2.services.list({ pageSize: 1 })).map(s => s.sid);
  try {
    await client.verify.v2.services(svc.sid).verifications.create({ to: '+962790340001', channel: 'call' });
  } catch (e) {
    out.error = { status: e.status, code: e.code };
  }
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });
