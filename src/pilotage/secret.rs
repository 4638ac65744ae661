//! Statistical confidentiality of published counts of people.
//!
//! - **Primary**: a cell counting 1 to 4 people is not published (0 is: no person
//!   to protect).
//! - **Secondary**: in a group whose total is published (a table's rows and their
//!   total), the masked cells must not be recoverable by subtraction: a group never
//!   has exactly one masked cell, and its masked cells never add up to less than
//!   [`THRESHOLD`]; the smallest published positive cells are masked too until it
//!   holds (all of them, and the total, when it cannot).
//! - A table with totals in both directions (territories × months) applies the rule
//!   to its rows and its columns in turn until nothing changes.

/// The smallest count of people published.
pub const THRESHOLD: i64 = 5;

/// One published cell: `None` when masked.
pub type Cell = Option<i64>;

fn sensitive(v: i64) -> bool {
    v > 0 && v < THRESHOLD
}

/// Masks a group of cells whose total is published; returns whether the total
/// itself must be masked (when nothing else can protect the masked cells).
fn protect_group(values: &[i64], masked: &mut [bool]) -> bool {
    for (v, m) in values.iter().zip(masked.iter_mut()) {
        if sensitive(*v) {
            *m = true;
        }
    }
    loop {
        let hidden: Vec<i64> = values
            .iter()
            .zip(masked.iter())
            .filter(|(_, m)| **m)
            .map(|(v, _)| *v)
            .collect();
        let sum: i64 = hidden.iter().sum();
        let safe = hidden.is_empty() || (hidden.len() >= 2 && sum >= THRESHOLD) || sum == 0;
        // A single masked cell is recoverable whatever its value (0 included:
        // masking a lone 0 would tell nothing, but a lone masked cell is never left).
        let lone = hidden.len() == 1;
        if safe && !lone {
            return false;
        }
        // The smallest published positive cell, then any published cell.
        let next = values
            .iter()
            .enumerate()
            .filter(|(i, v)| !masked.get(*i).copied().unwrap_or(true) && **v > 0)
            .min_by_key(|(i, v)| (**v, *i))
            .map(|(i, _)| i)
            .or_else(|| masked.iter().position(|m| !*m));
        match next {
            Some(i) => {
                if let Some(m) = masked.get_mut(i) {
                    *m = true;
                }
            }
            // Every cell is masked and still not safe: the total goes too.
            None => return sum > 0,
        }
    }
}

/// A list of counts published with their total: the cells and the total.
pub fn one_way(values: &[i64]) -> (Vec<Cell>, Cell) {
    let total: i64 = values.iter().sum();
    let mut masked = vec![false; values.len()];
    let hide_total = protect_group(values, &mut masked) || sensitive(total);
    let cells = values
        .iter()
        .zip(&masked)
        .map(|(v, m)| (!m && !hide_total).then_some(*v))
        .collect();
    (cells, (!hide_total).then_some(total))
}

/// A table (rows × columns) published with its row totals and column totals.
pub fn two_way(table: &[Vec<i64>]) -> Vec<Vec<Cell>> {
    let rows = table.len();
    let cols = table.iter().map(Vec::len).max().unwrap_or(0);
    let get = |r: usize, c: usize| {
        table
            .get(r)
            .and_then(|row| row.get(c))
            .copied()
            .unwrap_or(0)
    };
    let mut masked = vec![vec![false; cols]; rows];
    for _ in 0..(rows + cols + 2) {
        let mut changed = false;
        for (r, row_mask) in masked.iter_mut().enumerate() {
            let values: Vec<i64> = (0..cols).map(|c| get(r, c)).collect();
            let before = row_mask.clone();
            if protect_group(&values, row_mask) {
                row_mask.iter_mut().for_each(|m| *m = true);
            }
            changed |= *row_mask != before;
        }
        for c in 0..cols {
            let values: Vec<i64> = (0..rows).map(|r| get(r, c)).collect();
            let mut col_mask: Vec<bool> = masked
                .iter()
                .map(|row| row.get(c).copied().unwrap_or(false))
                .collect();
            let before = col_mask.clone();
            if protect_group(&values, &mut col_mask) {
                col_mask.iter_mut().for_each(|m| *m = true);
            }
            if col_mask != before {
                changed = true;
                for (row, m) in masked.iter_mut().zip(col_mask) {
                    if let Some(x) = row.get_mut(c) {
                        *x = m;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    (0..rows)
        .map(|r| {
            (0..cols)
                .map(|c| {
                    (!masked
                        .get(r)
                        .and_then(|m| m.get(c))
                        .copied()
                        .unwrap_or(true))
                    .then_some(get(r, c))
                })
                .collect()
        })
        .collect()
}

/// How a cell is written: the number, or « < 5 » / « secret » when masked.
pub fn show(cell: Cell) -> String {
    match cell {
        Some(v) => crate::domain::thousands(v),
        None => "secret".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What someone knowing the published cells and totals can deduce: the value of
    /// any masked cell that is alone in a group, or the sum of a group's masked
    /// cells when it is below the threshold.
    fn recoverable(values: &[i64], cells: &[Cell], total: Cell) -> bool {
        let Some(total) = total else {
            return false;
        };
        let published: i64 = cells.iter().flatten().sum();
        let hidden = cells.iter().filter(|c| c.is_none()).count();
        let rest = total - published;
        (hidden == 1)
            || (hidden >= 2 && rest > 0 && rest < THRESHOLD)
            || values
                .iter()
                .zip(cells)
                .any(|(v, c)| c.is_some() && sensitive(*v))
    }

    #[test]
    fn primary_and_complementary_suppression() {
        // 3 is masked; alone it would be total − the others: 12 (the smallest
        // other positive cell) goes too.
        let (cells, total) = one_way(&[3, 40, 12, 25]);
        assert_eq!(cells, vec![None, Some(40), None, Some(25)]);
        assert_eq!(total, Some(80));
        // Two small cells adding up to less than 5: a third goes.
        let (cells, total) = one_way(&[1, 2, 30, 50]);
        assert_eq!(cells, vec![None, None, None, Some(50)]);
        assert_eq!(total, Some(83));
        // Nothing small: everything published.
        assert_eq!(one_way(&[5, 0, 9]).0, vec![Some(5), Some(0), Some(9)]);
        // Zeros stay published, and do not protect a masked cell.
        let (cells, _) = one_way(&[0, 4, 0, 100]);
        assert_eq!(cells, vec![Some(0), None, Some(0), None]);
        // A total under 5: nothing at all.
        let (cells, total) = one_way(&[1, 2]);
        assert_eq!((cells, total), (vec![None, None], None));
    }

    #[test]
    fn no_masked_cell_can_be_recovered_on_generated_tables() {
        // A small deterministic generator: many tables with small counts.
        let mut seed = 0x2545_f491_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2_000 {
            let n = 1 + (next() % 8) as usize;
            let values: Vec<i64> = (0..n)
                .map(|_| match next() % 4 {
                    0 => 0,
                    1 => (next() % 5) as i64,
                    _ => (next() % 60) as i64,
                })
                .collect();
            let (cells, total) = one_way(&values);
            assert!(
                !recoverable(&values, &cells, total),
                "{values:?} → {cells:?} / {total:?}"
            );
            assert!(cells.iter().flatten().all(|v| *v == 0 || *v >= THRESHOLD));
        }
    }

    #[test]
    fn two_way_tables_protect_rows_and_columns() {
        let table = vec![vec![3, 20, 30], vec![15, 2, 40], vec![50, 60, 70]];
        let out = two_way(&table);
        for (r, row) in out.iter().enumerate() {
            let values = table.get(r).unwrap();
            let total: i64 = values.iter().sum();
            assert!(!recoverable(values, row, Some(total)), "row {r}: {row:?}");
        }
        for c in 0..3 {
            let values: Vec<i64> = table.iter().map(|row| *row.get(c).unwrap()).collect();
            let cells: Vec<Cell> = out.iter().map(|row| *row.get(c).unwrap()).collect();
            let total: i64 = values.iter().sum();
            assert!(
                !recoverable(&values, &cells, Some(total)),
                "column {c}: {cells:?}"
            );
        }
        assert_eq!(out.get(2).unwrap().get(2), Some(&Some(70)));
    }
}
