// Partner portal: a static page that reads a partner's accounts from THE
// MODEL gateway's JSON/REST API (proto3 JSON, lowerCamelCase fields, errors
// as {"code", "message", "details"}). No build step, no dependency.
"use strict";

const DEFAULT_GATEWAY = "http://127.0.0.1:50051";
/** Requests for health and onboarding run at most this many at a time. */
const PARALLEL_LOOKUPS = 4;
const NONE = "\u2014"; // "—": no score, no plan, or not allowed to see it.

/** An error answered by the gateway (status 0: it could not be reached). */
class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const session = {
  gateway: "",
  token: "",
  product: "",
  pageSize: 25,
  nextPageToken: "",
  shown: 0,
  // Bumped on every sign-in and sign-out: answers to older requests are dropped.
  generation: 0,
  detailRequest: 0,
  // The account link that opened the detail panel, to return focus to.
  opener: null,
};

const el = (id) => document.getElementById(id);

// ---------------------------------------------------------------- gateway

/** GETs `path` with `params` as query parameters; the answer's JSON. */
async function api(path, params = {}) {
  const url = new URL(session.gateway + path);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") {
      url.searchParams.set(name, String(value));
    }
  }
  let response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `Bearer ${session.token}`, Accept: "application/json" },
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(
      0,
      14,
      `Could not reach the gateway at ${session.gateway}. Is the suite running, and does it ` +
        `allow this page's origin (${location.origin}) with --cors-allowed-origin?`,
      [],
    );
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message =
      body && typeof body.message === "string" && body.message
        ? body.message
        : `${response.status} ${response.statusText}`.trim();
    throw new ApiError(response.status, body?.code ?? 2, message, body?.details ?? []);
  }
  if (body === null) {
    throw new ApiError(response.status, 13, "The gateway answered something that is not JSON.", []);
  }
  return body;
}

/** The token without a "Bearer " prefix or surrounding blanks. */
function bareToken(raw) {
  return raw.trim().replace(/^bearer\s+/i, "").trim();
}

/** The gateway URL, checked, without a trailing slash; null when invalid. */
function gatewayUrl(raw) {
  try {
    const url = new URL(raw.trim());
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    return url.origin + url.pathname.replace(/\/+$/, "");
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- formatting

/** "TIER_HIGH_TOUCH" -> "High touch"; null for an unset enum. */
function enumLabel(value, prefix) {
  if (value === undefined || value === null || value === 0) return null;
  if (typeof value === "number") return String(value);
  if (value.endsWith("_UNSPECIFIED")) return null;
  const words = (value.startsWith(prefix) ? value.slice(prefix.length) : value)
    .toLowerCase()
    .replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function formatDate(date) {
  if (!date || !date.year) return null;
  const pad = (n, width) => String(n ?? 0).padStart(width, "0");
  return `${pad(date.year, 4)}-${pad(date.month, 2)}-${pad(date.day, 2)}`;
}

function formatTime(timestamp) {
  if (!timestamp) return null;
  const time = new Date(timestamp);
  return Number.isNaN(time.getTime()) ? timestamp : time.toLocaleString();
}

function formatMoney(money) {
  if (!money || (!money.units && !money.nanos)) return null;
  const units = BigInt(money.units ?? "0");
  const nanos = Number(money.nanos ?? 0);
  const whole = units.toLocaleString("en-US");
  const fraction = nanos ? `.${String(Math.abs(nanos)).padStart(9, "0").replace(/0+$/, "")}` : "";
  return `${whole}${fraction} ${money.currencyCode ?? ""}`.trim();
}

/** Basis points of the 0-100 scale (5000 -> "50.0"). */
function formatPoints(basisPoints) {
  return basisPoints === undefined || basisPoints === null ? null : (basisPoints / 100).toFixed(1);
}

function gradeLetter(score) {
  return score ? enumLabel(score.grade, "GRADE_") : null;
}

// ---------------------------------------------------------------- status

function setStatus(text) {
  el("status").textContent = text;
}

function showError(text) {
  const box = el("error");
  box.textContent = text;
  box.hidden = !text;
}

/** What to tell the user about `error`, from the JSON error's message. */
function errorText(error, doing) {
  if (error instanceof ApiError) {
    if (error.status === 0) return error.message;
    if (error.status === 401) return `Sign-in failed: ${error.message}`;
    return `Could not ${doing}: ${error.message} (HTTP ${error.status})`;
  }
  return `Could not ${doing}: ${error?.message ?? error}`;
}

// ---------------------------------------------------------------- health and onboarding

/**
 * An account's latest onboarding plan and latest health score. Each is null
 * when missing, and also when the gateway refuses it (e.g. 403 for partner
 * users): the page shows "—" then, with the reason in `planError` or
 * `scoreError`.
 */
async function insights(accountId) {
  const result = { plan: null, planError: null, score: null, scoreError: null };
  let plans = [];
  try {
    const answer = await api("/v1/onboarding/plans", {
      accountId,
      productKey: session.product,
      pageSize: 100,
    });
    plans = answer.plans ?? [];
    // Plans come in opening order: the last is the latest.
    result.plan = plans.length ? plans[plans.length - 1] : null;
  } catch (error) {
    result.planError = error;
  }
  const products = session.product
    ? [session.product]
    : [...new Set(plans.map((plan) => plan.productKey).filter(Boolean))].reverse();
  for (const product of products) {
    try {
      const answer = await api(
        `/v1/health/accounts/${encodeURIComponent(accountId)}/products/` +
          `${encodeURIComponent(product)}/health-scores:latest`,
      );
      if (answer.score) {
        result.score = answer.score;
        break;
      }
    } catch (error) {
      // 404: no score for this product yet; 403: not for this caller.
      if (!(error instanceof ApiError && error.status === 404)) result.scoreError = error;
    }
  }
  return result;
}

/** Runs `tasks` (functions returning promises), at most `limit` at a time. */
async function runLimited(tasks, limit) {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++];
      try {
        await task();
      } catch (error) {
        console.error(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}

/** The product a grade or status is of, under it. */
function productNote(productKey) {
  const note = document.createElement("span");
  note.className = "sub";
  note.textContent = productKey;
  return note;
}

function renderGrade(cell, info) {
  cell.replaceChildren();
  const letter = gradeLetter(info.score);
  if (!letter) {
    cell.textContent = NONE;
    const why = info.scoreError?.message ?? (info.score ? "No measure had data." : "No health score yet.");
    cell.title = why;
    return;
  }
  const badge = document.createElement("span");
  badge.className = `grade grade-${letter.toLowerCase()}`;
  badge.dataset.testid = "health-grade";
  badge.textContent = letter;
  const points = document.createElement("span");
  points.textContent = ` ${formatPoints(info.score.score) ?? ""}`;
  cell.append(badge, points, productNote(info.score.productKey));
  cell.title = "";
}

function renderOnboarding(cell, info) {
  cell.replaceChildren();
  const status = info.plan ? enumLabel(info.plan.status, "PLAN_STATUS_") : null;
  if (!status) {
    cell.textContent = NONE;
    cell.title = info.planError?.message ?? "No onboarding plan.";
    return;
  }
  const badge = document.createElement("span");
  badge.className = `pill plan-${info.plan.status.toLowerCase().replace(/_/g, "-")}`;
  badge.dataset.testid = "onboarding-status";
  badge.textContent = status;
  cell.append(badge, productNote(info.plan.productKey));
  cell.title = "";
}

// ---------------------------------------------------------------- accounts

function addRow(account) {
  const row = document.createElement("tr");
  row.dataset.testid = "account-row";
  row.dataset.accountId = account.id;

  const name = document.createElement("th");
  name.scope = "row";
  const open = document.createElement("button");
  open.type = "button";
  open.className = "link";
  open.dataset.testid = "account-link";
  open.dataset.accountId = account.id;
  open.textContent = account.name ?? account.id;
  open.addEventListener("click", () => openDetail(account.id, open));
  name.append(open);

  const cells = [
    [enumLabel(account.tier, "TIER_") ?? "Unassigned", "tier"],
    [enumLabel(account.lifecycleStatus, "LIFECYCLE_STATUS_") ?? NONE, "lifecycle"],
    ["\u2026", "health"],
    ["\u2026", "onboarding"],
  ].map(([text, testid]) => {
    const cell = document.createElement("td");
    cell.dataset.testid = testid;
    cell.textContent = text;
    return cell;
  });
  row.append(name, ...cells);
  el("accounts-body").append(row);
  return { health: cells[2], onboarding: cells[3] };
}

async function loadPage() {
  const generation = session.generation;
  const more = el("load-more");
  more.disabled = true;
  el("accounts").setAttribute("aria-busy", "true");
  setStatus(session.shown ? "Loading more accounts\u2026" : "Loading your accounts\u2026");
  let answer;
  try {
    answer = await api("/v1/segmentation/accounts", {
      pageSize: session.pageSize,
      pageToken: session.nextPageToken,
    });
  } catch (error) {
    if (generation !== session.generation) return;
    el("accounts").removeAttribute("aria-busy");
    more.disabled = false;
    throw error;
  }
  if (generation !== session.generation) return;
  const accounts = answer.accounts ?? [];
  session.nextPageToken = answer.nextPageToken ?? "";
  el("accounts-section").hidden = false;
  const lookups = accounts.map((account) => {
    const cells = addRow(account);
    return async () => {
      const info = await insights(account.id);
      if (generation !== session.generation) return;
      renderGrade(cells.health, info);
      renderOnboarding(cells.onboarding, info);
    };
  });
  session.shown += accounts.length;
  el("accounts-empty").hidden = session.shown > 0;
  more.hidden = !session.nextPageToken;
  more.disabled = false;
  const count = `${session.shown} account${session.shown === 1 ? "" : "s"}`;
  setStatus(`Showing ${count}; loading health and onboarding\u2026`);
  await runLimited(lookups, PARALLEL_LOOKUPS);
  if (generation !== session.generation) return;
  el("accounts").removeAttribute("aria-busy");
  setStatus(
    session.shown === 0
      ? "Signed in. No accounts yet."
      : `Showing ${count}${session.nextPageToken ? "; more are available" : ""}.`,
  );
}

function reset() {
  session.generation += 1;
  session.detailRequest += 1;
  session.nextPageToken = "";
  session.shown = 0;
  el("accounts-body").replaceChildren();
  el("accounts-section").hidden = true;
  el("accounts-empty").hidden = true;
  el("load-more").hidden = true;
  el("detail").hidden = true;
  showError("");
}

async function signIn() {
  const form = el("signin-form");
  const gateway = gatewayUrl(form.gateway.value);
  const token = bareToken(form.token.value);
  const pageSize = Number.parseInt(form.pageSize.value, 10);
  reset();
  if (!gateway) {
    showError("Enter the gateway URL, e.g. http://127.0.0.1:50051.");
    form.gateway.focus();
    return;
  }
  if (!token) {
    showError("Enter your partner bearer token.");
    form.token.focus();
    return;
  }
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
    showError("Accounts per page is a whole number from 1 to 1000.");
    form.pageSize.focus();
    return;
  }
  Object.assign(session, { gateway, token, product: form.product.value.trim(), pageSize });
  const generation = session.generation;
  el("signin").disabled = true;
  setStatus("Signing in\u2026");
  try {
    await loadPage();
    if (generation === session.generation) el("signout").hidden = false;
  } catch (error) {
    if (generation !== session.generation) return;
    setStatus("Not signed in.");
    showError(errorText(error, "list your accounts"));
    session.token = "";
  } finally {
    el("signin").disabled = false;
  }
}

function signOut() {
  reset();
  session.token = "";
  el("signin-form").token.value = "";
  el("signout").hidden = true;
  setStatus("Signed out.");
  el("signin-form").token.focus();
}

async function loadMore() {
  const generation = session.generation;
  showError("");
  try {
    await loadPage();
  } catch (error) {
    if (generation !== session.generation) return;
    setStatus(`Showing ${session.shown} accounts.`);
    showError(errorText(error, "load more accounts"));
  }
}

// ---------------------------------------------------------------- detail

function addField(list, label, value, testid) {
  const term = document.createElement("dt");
  term.textContent = label;
  const description = document.createElement("dd");
  description.dataset.testid = testid;
  description.textContent = value ?? NONE;
  list.append(term, description);
}

function renderHealth(info) {
  const text = el("detail-health");
  const table = el("detail-measures");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  const score = info.score;
  if (!score) {
    text.textContent = info.scoreError
      ? `${NONE} Not available: ${info.scoreError.message}`
      : `${NONE} No health score yet.`;
    table.hidden = true;
    return;
  }
  const letter = gradeLetter(score);
  const points = formatPoints(score.score);
  const trend = score.trend === undefined ? "" : `, ${score.trend >= 0 ? "+" : ""}${formatPoints(score.trend)} since the previous score`;
  text.textContent =
    (letter ? `Grade ${letter}, score ${points} of 100` : "No grade: no measure had data") +
    `${trend}. Product ${score.productKey}, scorecard ${score.scorecardKey ?? NONE} ` +
    `version ${score.scorecardVersion ?? NONE}, computed ${formatTime(score.computeTime) ?? NONE}.`;
  for (const measure of score.measures ?? []) {
    const row = document.createElement("tr");
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = enumLabel(measure.measure, "MEASURE_") ?? NONE;
    const hasData = measure.value !== undefined && measure.value !== null;
    const cells = [
      hasData ? formatPoints(measure.value) : "no data",
      `${formatPoints(measure.weightBasisPoints ?? 0)}% (stated ${measure.statedWeight ?? 0})`,
      formatPoints(measure.contribution ?? 0),
    ].map((value) => {
      const cell = document.createElement("td");
      cell.textContent = value;
      return cell;
    });
    row.append(name, ...cells);
    body.append(row);
  }
  table.hidden = body.children.length === 0;
}

function renderPlan(info) {
  const text = el("detail-onboarding");
  const plan = info.plan;
  if (!plan) {
    text.textContent = info.planError
      ? `${NONE} Not available: ${info.planError.message}`
      : `${NONE} No onboarding plan.`;
    return;
  }
  const parts = [
    `${enumLabel(plan.status, "PLAN_STATUS_") ?? NONE} (product ${plan.productKey}, playbook ${plan.playbookKey ?? NONE} v${plan.playbookVersion ?? NONE})`,
  ];
  if (plan.nextStepKey) parts.push(`next step: ${plan.nextStepKey}`);
  const setupDue = formatDate(plan.setupDueDate);
  if (setupDue && !plan.setupCompleteTime) parts.push(`set-up due ${setupDue}`);
  const valueDue = formatDate(plan.valueDueDate);
  if (valueDue && !plan.valueConfirmedTime) parts.push(`value due ${valueDue}`);
  text.textContent = `${parts.join("; ")}.`;
}

async function openDetail(accountId, opener) {
  session.opener = opener ?? null;
  const generation = session.generation;
  const request = ++session.detailRequest;
  const panel = el("detail");
  const fields = el("detail-fields");
  panel.hidden = false;
  panel.setAttribute("aria-busy", "true");
  el("detail-title").textContent = "Account";
  el("detail-status").textContent = "Loading\u2026";
  fields.replaceChildren();
  el("detail-health").textContent = "";
  el("detail-onboarding").textContent = "";
  el("detail-measures").hidden = true;
  el("detail-title").focus();
  const current = () => generation === session.generation && request === session.detailRequest;
  let account;
  try {
    ({ account } = await api(`/v1/segmentation/accounts/${encodeURIComponent(accountId)}`));
  } catch (error) {
    if (!current()) return;
    panel.removeAttribute("aria-busy");
    el("detail-status").textContent = "Could not load this account.";
    showError(errorText(error, "load the account"));
    return;
  }
  if (!current()) return;
  account = account ?? {};
  el("detail-title").textContent = account.name ?? accountId;
  el("detail-status").textContent = "";
  addField(fields, "Account id", account.id, "detail-id");
  addField(fields, "External id", account.externalId, "detail-external-id");
  addField(fields, "Partner", account.partnerId, "detail-partner");
  addField(fields, "Lifecycle", enumLabel(account.lifecycleStatus, "LIFECYCLE_STATUS_"), "detail-lifecycle");
  addField(fields, "Tier", enumLabel(account.tier, "TIER_") ?? "Unassigned", "detail-tier");
  addField(fields, "Owner CSM", account.ownerCsmId, "detail-owner-csm");
  addField(fields, "Renewal date", formatDate(account.renewalDate), "detail-renewal-date");
  addField(fields, "Contract start", formatDate(account.contractStartDate), "detail-contract-start");
  addField(fields, "ACV", formatMoney(account.acv), "detail-acv");
  addField(fields, "Industry", account.industry, "detail-industry");
  el("detail-health").textContent = "Loading\u2026";
  el("detail-onboarding").textContent = "Loading\u2026";
  const info = await insights(accountId);
  if (!current()) return;
  renderHealth(info);
  renderPlan(info);
  panel.removeAttribute("aria-busy");
}

function closeDetail() {
  session.detailRequest += 1;
  el("detail").hidden = true;
  // Back to the account the panel was opened from.
  if (session.opener?.isConnected) session.opener.focus();
}

// ---------------------------------------------------------------- start

/** Signs in from a link's fragment: #token=...&gateway=...&product=...&pageSize=... */
function signInFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const form = el("signin-form");
  if (params.get("gateway")) form.gateway.value = params.get("gateway");
  if (params.get("product")) form.product.value = params.get("product");
  if (params.get("pageSize")) form.pageSize.value = params.get("pageSize");
  if (!params.get("token")) return;
  form.token.value = params.get("token");
  // Keep the token out of the address bar and the history.
  history.replaceState(null, "", location.pathname + location.search);
  signIn();
}

document.addEventListener("DOMContentLoaded", () => {
  const form = el("signin-form");
  if (!form.gateway.value) form.gateway.value = DEFAULT_GATEWAY;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    signIn();
  });
  el("signout").addEventListener("click", signOut);
  el("load-more").addEventListener("click", loadMore);
  el("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !el("detail").hidden) closeDetail();
  });
  window.addEventListener("hashchange", signInFromFragment);
  signInFromFragment();
});
