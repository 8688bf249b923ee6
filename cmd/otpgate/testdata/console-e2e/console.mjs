// Drives otpgate's web console in Debian's Chromium (playwright-core, no
// browser download) for cmd/otpgate TestConsoleInChromium: signs in with a
// token made for one account and sees its blocks read only; signs in with
// the operator's, checks that a chart drew points, searches a message by
// number, lifts a guard block, finds the lift in the audit log, and saves a
// screenshot of each page. Prints what it saw as JSON.
//
// Env: OTPGATE_URL, CONSOLE_TOKEN (the operator's), SCOPED_TOKEN (one made
// for the account), SEARCH_NUMBER (as a user types it), SHOTS_DIR (where the
// screenshots go), CHROMIUM (default /usr/bin/chromium).
import { chromium } from "playwright-core";
import path from "node:path";

const base = process.env.OTPGATE_URL;
const shots = process.env.SHOTS_DIR;
const out = { errors: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  // A token made for one account: its blocks, and no button to lift them.
  {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-GB", timezoneId: "UTC" });
    const page = await context.newPage();
    page.on("pageerror", (e) => out.errors.push("page (scoped token): " + e.message));
    await page.goto(base + "/console/guard");
    await page.fill("input[name=token]", process.env.SCOPED_TOKEN);
    await Promise.all([page.waitForURL(base + "/console/guard"), page.click("button[type=submit]")]);
    out.scoped = {
      who: await page.locator("header .who").innerText(),
      blocks: await page.locator("#blocks tbody tr").filter({ hasText: "prefix:" }).count(),
      liftButtons: await page.locator("#blocks button").count(),
    };
    await context.close();
  }

  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-GB", timezoneId: "UTC" });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") out.errors.push("console: " + m.text()); });
  page.on("pageerror", (e) => out.errors.push("page: " + e.message));
  page.on("requestfailed", (r) => { if (!r.url().includes("/tail/rows")) out.errors.push("request failed: " + r.url()); });
  const shot = (name) => page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });

  // Not signed in: the login page.
  await page.goto(base + "/console/");
  out.loginURL = new URL(page.url()).pathname;
  await shot("login");
  await page.fill("input[name=token]", process.env.CONSOLE_TOKEN);
  await Promise.all([page.waitForURL(base + "/console/"), page.click("button[type=submit]")]);
  out.who = await page.locator("header .who").innerText();

  // The overview: three charts, the first with points drawn.
  await page.waitForFunction(() => window.otpgateCharts && window.otpgateCharts.length === 3, null, { timeout: 15000 });
  out.chart = await page.evaluate(() => {
    const u = window.otpgateCharts[0];
    let sum = 0;
    for (let s = 1; s < u.data.length; s++) for (const v of u.data[s]) sum += v || 0;
    // Pixels of the first series' colour (#2156d1) on the canvas.
    const c = u.ctx.canvas;
    const img = u.ctx.getImageData(0, 0, c.width, c.height).data;
    let drawn = 0;
    for (let i = 0; i < img.length; i += 4) {
      if (img[i + 3] > 200 && Math.abs(img[i] - 0x21) < 24 && Math.abs(img[i + 1] - 0x56) < 24 && Math.abs(img[i + 2] - 0xd1) < 24) drawn++;
    }
    return { series: u.series.length - 1, sum, drawn, labels: u.series.slice(1).map((s) => s.label) };
  });
  await shot("overview");

  // The message log: search by number.
  await page.goto(base + "/console/messages");
  await page.fill("input[name=number]", process.env.SEARCH_NUMBER);
  await Promise.all([page.waitForURL(/number=/), page.click("form.search button[type=submit]")]);
  out.search = await page.evaluate(() => {
    const rows = [...document.querySelectorAll("#messages tbody tr")].filter((r) => r.cells.length > 1);
    return rows.map((r) => {
      const body = r.querySelector("td.body");
      return { to: r.cells[2].innerText, status: r.cells[4].innerText, body: body.innerText, dir: body.getAttribute("dir"), direction: getComputedStyle(body).direction };
    });
  });
  await shot("messages");

  // Live tail: htmx fills the rows.
  await page.goto(base + "/console/tail");
  await page.waitForFunction(() => document.querySelectorAll("#tail tbody tr").length > 3, null, { timeout: 15000 });
  out.tailRows = await page.locator("#tail tbody tr").count();
  await shot("tail");

  await page.goto(base + "/console/accounts");
  out.accounts = await page.locator("section.account").count();
  await shot("accounts");
  await page.goto(base + "/console/senders");
  out.senders = await page.locator("#senders tbody tr").count();
  await shot("senders");

  // The guard: lift the first block.
  await page.goto(base + "/console/guard");
  out.blocksBefore = await page.locator("#blocks button.danger").count();
  await shot("guard");
  if (out.blocksBefore > 0) {
    out.lifting = await page.locator("#blocks tbody tr").first().locator("td").nth(1).innerText();
    await Promise.all([page.waitForURL(/lifted=/), page.locator("#blocks button.danger").first().click()]);
    out.notice = await page.locator(".notice").innerText();
    out.blocksAfter = await page.locator("#blocks button.danger").count();
  }

  // The audit log, from the navigation: the lift is among its newest entries.
  await page.click("header nav a[href='/console/audit']");
  await page.waitForURL(base + "/console/audit");
  out.audit = await page.evaluate(() =>
    [...document.querySelectorAll("#audit tbody tr")].filter((r) => r.cells.length > 1).slice(0, 10).map((r) => ({
      who: r.cells[2].innerText, kind: r.cells[3].innerText, action: r.cells[4].innerText, target: r.cells[5].innerText, outcome: r.cells[6].innerText,
    })));
  await shot("audit");

  // Signing out: the console is closed again.
  await Promise.all([page.waitForURL(/\/console\/login/), page.click("form.logout button")]);
  await page.goto(base + "/console/");
  out.afterLogout = new URL(page.url()).pathname;
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
