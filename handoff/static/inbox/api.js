/*
 * Kestrel Support — agent inbox: the hub's JSON API (same origin, HttpOnly session cookie).
 * A 401 on any call but sign-in means the session ended: the handler set by main.js shows the
 * sign-in screen.
 */

let onUnauthorized = function () {};

export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

export function ApiError(status, code, message, body) {
  this.name = "ApiError";
  this.status = status;
  this.code = code || null;
  this.message = message || "Request failed";
  this.body = body || null; // the whole JSON reply (the studio reads field errors and conflicts)
}
ApiError.prototype = Object.create(Error.prototype);
ApiError.prototype.constructor = ApiError;

export function AuthError() {
  this.name = "AuthError";
  this.status = 401;
  this.message = "Signed out";
}
AuthError.prototype = Object.create(Error.prototype);
AuthError.prototype.constructor = AuthError;

export function api(method, path, body) {
  var opts = {
    method: method,
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" },
  };
  if (method !== "GET" && method !== "HEAD") {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body === undefined ? {} : body);
  }
  return fetch(path, opts)
    .catch(function () {
      throw new ApiError(0, "network", "Can't reach the server. Check your connection and try again.");
    })
    .then(function (res) {
      var parse = res.status === 204 ? Promise.resolve(null) : res.json().catch(function () { return null; });
      return parse.then(function (data) {
        if (res.status === 401 && path !== "/api/agent/login") {
          onUnauthorized();
          throw new AuthError();
        }
        if (!res.ok) {
          var err = (data && typeof data.error === "object" && data.error) || {};
          throw new ApiError(
            res.status,
            typeof err.code === "string" ? err.code : null,
            typeof err.message === "string" && err.message ? err.message : "Request failed (HTTP " + res.status + ").",
            data
          );
        }
        return data && typeof data === "object" ? data : {};
      });
    });
}

export function convPath(id, suffix) {
  return "/api/agent/conversations/" + encodeURIComponent(String(id)) + (suffix ? "/" + suffix : "");
}
