// Texts a one-time code to a phone number and checks the code the user types,
// with Twilio's Node SDK (twilio-node) and its Verify v2 API, against otpgate
// instead of Twilio. Only the lines marked "otpgate" differ from a Twilio app.
//
//   export OTPGATE_URL=http://127.0.0.1:8080 OTPGATE_ACCOUNT_SID=AC... OTPGATE_AUTH_TOKEN=...
//   export OTPGATE_SERVICE_SID=$(node verify.js service "My App")
//   node verify.js send +962790000000
//   node verify.js check +962790000000 123456
//
// check exits 0 when the code is approved, 1 when it is not; errors exit 2.
const twilio = require('twilio');

const usage = `usage:
  node verify.js service NAME        create a Verify service; prints its SID (set OTPGATE_SERVICE_SID to it)
  node verify.js send NUMBER         text a code to NUMBER; prints the verification's SID
  node verify.js check NUMBER CODE   check the code NUMBER's user typed; prints approved or not approved
environment: OTPGATE_URL (default http://127.0.0.1:8080), OTPGATE_ACCOUNT_SID, OTPGATE_AUTH_TOKEN,
  OTPGATE_SERVICE_SID (for send and check)`;

function fail(message) {
  console.error(message);
  process.exit(2);
}

// verifyService is the Verify service that send and check use: OTPGATE_SERVICE_SID.
function verifyService(client) {
  const sid = process.env.OTPGATE_SERVICE_SID;
  if (!sid) fail('set OTPGATE_SERVICE_SID to a service\'s SID (node verify.js service NAME makes one)');
  return client.verify.v2.services(sid);
}

async function main([command, ...args]) {
  const { OTPGATE_URL: url = 'http://127.0.0.1:8080', OTPGATE_ACCOUNT_SID: sid, OTPGATE_AUTH_TOKEN: token } = process.env;
  if (!sid || !token) fail('set OTPGATE_ACCOUNT_SID and OTPGATE_AUTH_TOKEN (otpgate serve prints them on its first start)');
  const client = twilio(sid, token); // otpgate: its account SID and auth token
  client.verify.baseUrl = url; // otpgate: Verify's requests go to otpgate, not https://verify.twilio.com

  if (command === 'service' && args.length === 1) {
    const service = await client.verify.v2.services.create({ friendlyName: args[0] });
    console.log(service.sid);
  } else if (command === 'send' && args.length === 1) {
    const verification = await verifyService(client).verifications.create({ to: args[0], channel: 'sms' });
    console.log(verification.sid);
  } else if (command === 'check' && args.length === 2) {
    const check = await verifyService(client).verificationChecks.create({ to: args[0], code: args[1] });
    console.log(check.status === 'approved' ? 'approved' : `not approved (${check.status})`);
    if (check.status !== 'approved') process.exitCode = 1;
  } else {
    fail(usage);
  }
}

main(process.argv.slice(2)).catch((e) => {
  // The SDK's RestException carries Twilio's error code and the HTTP status.
  fail(e.status ? `error ${e.code} (HTTP ${e.status}): ${e.message}` : String(e));
});
