/** The points of a sparkline polyline for `values` in a `width` × `height` box (0 at the bottom). */
export const sparklinePoints = (values: ReadonlyArray<number>, width: number, height: number): string => {
  if (values.length === 0) return ""
  const top = Math.max(1, ...values)
  const step = values.length === 1 ? 0 : width / (values.length - 1)
  return values
    .map((value, i) => `${(i * step).toFixed(1)},${(height - 1 - (value / top) * (height - 2)).toFixed(1)}`)
    .join(" ")
}
