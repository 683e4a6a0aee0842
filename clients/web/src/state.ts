// What the browser keeps between visits, in localStorage: an anonymous user id, the cart token
// (an encrypted, authenticated cart only the cart service can open) and the display currency.
const USER = "shopmesh.user";
const CART = "shopmesh.cartToken";
const CURRENCY = "shopmesh.currency";

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function userId(): string {
  let id = localStorage.getItem(USER);
  if (!id) {
    id = `web-${randomId()}`;
    localStorage.setItem(USER, id);
  }
  return id;
}

export function cartToken(): string {
  return localStorage.getItem(CART) ?? "";
}

export function saveCartToken(token: string): void {
  if (token) localStorage.setItem(CART, token);
  else localStorage.removeItem(CART);
}

export function currency(): string {
  return localStorage.getItem(CURRENCY) ?? "EUR";
}

export function saveCurrency(code: string): void {
  localStorage.setItem(CURRENCY, code);
}

export function requestId(): string {
  return `web-${Date.now().toString(36)}-${randomId()}`;
}
