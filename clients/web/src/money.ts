// Money is units (int64, a bigint here) + nanos: formatted from a decimal string, never through
// a float, so large or precise amounts print exactly.
import type { Money } from "./gen/shop/common/v1/common_pb";

export function decimal(money: Money): string {
  const negative = money.units < 0n || money.nanos < 0;
  const units = money.units < 0n ? -money.units : money.units;
  const nanos = Math.abs(money.nanos);
  const fraction = String(nanos).padStart(9, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${units}${fraction ? "." + fraction : ""}`;
}

export function formatMoney(money: Money | undefined): string {
  if (!money || !money.currencyCode) return "—";
  const text = decimal(money);
  try {
    const format = new Intl.NumberFormat(undefined, {
      style: "currency",
      currency: money.currencyCode,
    });
    // Intl formats decimal strings exactly; the cast covers older lib typings.
    return format.format(text as unknown as number);
  } catch {
    return `${text} ${money.currencyCode}`;
  }
}
