// Turning a failed call into a sentence for a person: the gRPC status code plus, when the server
// sent one, the google.rpc.ErrorInfo reason (or BadRequest field violations) from the status
// details. The two detail messages are decoded by hand from their wire format (a few fields),
// which keeps googleapis' generated code out of the bundle.
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";

export interface Problem {
  /** What to show. */
  sentence: string;
  /** ErrorInfo.reason, e.g. SOLD_OUT; "" when the server sent none. */
  reason: string;
  code: Code;
}

const REASONS: Record<string, string> = {
  SOLD_OUT: "Sorry, this item is sold out.",
  LIMIT_EXCEEDED: "You have reached the purchase limit for this item.",
  SALE_NOT_ACTIVE: "This sale is not open right now.",
  CART_TOKEN_INVALID: "Your saved cart could not be read, so a fresh cart has been started.",
  CART_TOKEN_EXPIRED: "Your saved cart had expired, so a fresh cart has been started.",
  CART_EMPTY: "Your cart is empty: add something before checking out.",
  CART_TOO_LARGE: "Your cart has too many different items for one order.",
  COUPON_INVALID: "That coupon code is not valid.",
  COUPON_EXPIRED: "That coupon has expired.",
  CURRENCY_UNSUPPORTED: "That currency is not available.",
  BACKLOG_FULL: "We are taking a lot of orders right now. Please try again in a moment.",
  IN_FLIGHT: "Your order is still being placed. Please wait a moment and try again.",
  CONTENDED: "This order is being updated right now. Please try again in a moment.",
  ILLEGAL_TRANSITION: "That is not possible for this order in its current state.",
  ALREADY_PAID: "This order has already been paid.",
  REQUEST_ID_REUSED: "This request was already used for a different order.",
  DEPENDENCY_UNAVAILABLE: "Part of the shop is unavailable right now. Please try again shortly.",
};

const CODES: Partial<Record<Code, string>> = {
  [Code.NotFound]: "We could not find what you were looking for.",
  [Code.InvalidArgument]: "Something in the request was not accepted.",
  [Code.FailedPrecondition]: "That is not possible right now.",
  [Code.ResourceExhausted]: "The shop is very busy right now. Please try again in a moment.",
  [Code.Aborted]: "Someone else changed this at the same time. Please try again.",
  [Code.Unavailable]: "The shop cannot be reached right now. Please try again shortly.",
  [Code.DeadlineExceeded]: "The shop took too long to answer. Please try again.",
  [Code.Unauthenticated]: "The request could not be authenticated.",
  [Code.PermissionDenied]: "You are not allowed to do that.",
  [Code.Canceled]: "The request was cancelled.",
};

function strings(bytes: Uint8Array): Map<number, string[]> {
  const fields = new Map<number, string[]>();
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [no, type] = reader.tag();
    if (type === WireType.LengthDelimited) {
      const raw = reader.bytes();
      fields.set(no, [...(fields.get(no) ?? []), new TextDecoder().decode(raw)]);
    } else {
      reader.skip(type, no);
    }
  }
  return fields;
}

/** ErrorInfo.reason (field 1) of the first ErrorInfo detail. */
export function errorReason(err: ConnectError): string {
  for (const detail of err.details) {
    if ("type" in detail && detail.type === "google.rpc.ErrorInfo") {
      return strings(detail.value).get(1)?.[0] ?? "";
    }
  }
  return "";
}

/** "field: description" for each BadRequest.FieldViolation (field 1, each one {1: field, 2: text}). */
function violations(err: ConnectError): string[] {
  const found: string[] = [];
  for (const detail of err.details) {
    if ("type" in detail && detail.type === "google.rpc.BadRequest") {
      const reader = new BinaryReader(detail.value);
      while (reader.pos < reader.len) {
        const [no, type] = reader.tag();
        if (no === 1 && type === WireType.LengthDelimited) {
          const v = strings(reader.bytes());
          found.push(`${v.get(1)?.[0] ?? "a field"} ${v.get(2)?.[0] ?? "is not valid"}`);
        } else {
          reader.skip(type, no);
        }
      }
    }
  }
  return found;
}

export function explain(error: unknown): Problem {
  const err = ConnectError.from(error);
  const reason = errorReason(err);
  let sentence = REASONS[reason];
  if (!sentence && err.code === Code.InvalidArgument) {
    const fields = violations(err);
    if (fields.length) sentence = `Please check your input: ${fields.join("; ")}.`;
  }
  sentence ??= CODES[err.code] ?? "Something went wrong on our side. Please try again.";
  return { sentence, reason, code: err.code };
}

/** Whether waiting a moment and trying again may help. */
export function transient(problem: Problem): boolean {
  return [Code.ResourceExhausted, Code.Unavailable, Code.Aborted, Code.DeadlineExceeded].includes(
    problem.code,
  );
}
