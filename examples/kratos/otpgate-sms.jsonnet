// The body of the SMS request Ory Kratos's courier sends to otpgate: a
// Messages API create (Twilio's form fields). Kratos renders the text, code
// included, and passes it as ctx.body; ctx.recipient is the phone number
// (E.164). From is the sender ID your operators registered for you.
function(ctx) {
  From: 'MyApp',
  To: ctx.recipient,
  Body: ctx.body,
}
