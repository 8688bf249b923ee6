// What Postman does with otpgate's /openapi.json (cmd/otpgate
// TestOpenAPIPostman): validate it as an OpenAPI 3.1 document
// (swagger-parser, which checks it against the OpenAPI schema and resolves
// every $ref), then convert it the way Postman's File > Import does
// (openapi-to-postmanv2). Prints what it saw as JSON.
const SwaggerParser = require('@apidevtools/swagger-parser');
const Converter = require('openapi-to-postmanv2');
const { OPENAPI_URL: url } = process.env;

function requests(items, out) {
  for (const it of items || []) {
    if (it.item) requests(it.item, out);
    if (it.request) {
      const u = it.request.url;
      const path = typeof u === 'string' ? u : '/' + (u.path || []).join('/');
      out.push(it.request.method + ' ' + path.replace(/^\{\{baseUrl\}\}/, ''));
    }
  }
  return out;
}

(async () => {
  const out = {};
  const spec = await (await fetch(url)).json();
  try {
    await SwaggerParser.validate(structuredClone(spec));
    out.valid = true;
  } catch (e) {
    out.valid = false;
    out.validationError = String(e && e.message || e);
  }
  await new Promise((resolve) => {
    Converter.convert({ type: 'json', data: spec }, { folderStrategy: 'Tags' }, (err, res) => {
      if (err) {
        out.converted = false;
        out.reason = String(err.message || err);
      } else if (!res.result) {
        out.converted = false;
        out.reason = res.reason;
      } else {
        const c = res.output[0].data;
        out.converted = true;
        out.folders = (c.item || []).filter(i => i.item).map(i => i.name);
        out.requests = requests(c.item, []);
      }
      resolve();
    });
  });
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
