//! Statistical confidentiality of published counts of people.
//!
//! - **Primary**: a count of 1 to 4 people is not published (0 is: no person to
//!   protect).
//! - **Secondary**: published figures are bound by sums (a row and its total, a
//!   column and its total, the totals and the grand total). In every such
//!   equation the masked figures are never exactly one (it would be the
//!   difference), and when the total is published the masked members add up to
//!   at least [`THRESHOLD`] (else their sum, below 5, would be known). The
//!   smallest published positive members are masked until every equation holds;
//!   masks only grow, so it ends.
//!
//! [`protect`] applies it to a table (territories × months) with its row totals,
//! column totals and grand total — what the open data and « Relais en chiffres »
//! publish, from the same protected table so that no figure of one can be
//! recomputed from the other.

/// The smallest count of people published.
pub const THRESHOLD: i64 = 5;

/// One published figure: `None` when masked.
pub type Cell = Option<i64>;

fn sensitive(v: i64) -> bool {
    v > 0 && v < THRESHOLD
}

/// Figures linked by equations `sum(members) = total` (indices into `values`).
struct System {
    values: Vec<i64>,
    masked: Vec<bool>,
    equations: Vec<(Vec<usize>, usize)>,
}

impl System {
    fn new(values: Vec<i64>, equations: Vec<(Vec<usize>, usize)>) -> System {
        let masked = values.iter().map(|v| sensitive(*v)).collect();
        System {
            values,
            masked,
            equations,
        }
    }

    fn is_masked(&self, i: usize) -> bool {
        self.masked.get(i).copied().unwrap_or(true)
    }

    fn value(&self, i: usize) -> i64 {
        self.values.get(i).copied().unwrap_or(0)
    }

    /// The member to mask next in an equation that does not hold: the smallest
    /// published positive member, else any published member.
    fn next_member(&self, members: &[usize]) -> Option<usize> {
        members
            .iter()
            .copied()
            .filter(|i| !self.is_masked(*i) && self.value(*i) > 0)
            .min_by_key(|i| (self.value(*i), *i))
            .or_else(|| members.iter().copied().find(|i| !self.is_masked(*i)))
    }

    /// One pass over the equations; whether a mask was added.
    fn pass(&mut self) -> bool {
        let mut changed = false;
        for k in 0..self.equations.len() {
            let Some((members, total)) = self.equations.get(k).cloned() else {
                continue;
            };
            let hidden: Vec<usize> = members
                .iter()
                .copied()
                .filter(|i| self.is_masked(*i))
                .collect();
            let hidden_sum: i64 = hidden.iter().map(|i| self.value(*i)).sum();
            let total_masked = self.is_masked(total);
            let holds = if total_masked {
                // The total can only be hidden if some member is.
                !hidden.is_empty()
            } else {
                hidden.is_empty()
                    || (hidden.len() >= 2 && (hidden_sum >= THRESHOLD || hidden_sum == 0))
            };
            if holds {
                continue;
            }
            match self.next_member(&members) {
                Some(i) => {
                    if let Some(m) = self.masked.get_mut(i) {
                        *m = true;
                    }
                }
                None => {
                    if let Some(m) = self.masked.get_mut(total) {
                        *m = true;
                    }
                }
            }
            changed = true;
        }
        changed
    }

    fn solve(mut self) -> Vec<Cell> {
        while self.pass() {}
        self.values
            .iter()
            .zip(&self.masked)
            .map(|(v, m)| (!m).then_some(*v))
            .collect()
    }
}

/// A list of counts published with their total: the cells and the total.
pub fn one_way(values: &[i64]) -> (Vec<Cell>, Cell) {
    let n = values.len();
    let mut all = values.to_vec();
    all.push(values.iter().sum());
    let out = System::new(all, vec![((0..n).collect(), n)]).solve();
    let total = out.get(n).copied().flatten();
    (out.into_iter().take(n).collect(), total)
}

/// A protected table and its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    pub cells: Vec<Vec<Cell>>,
    pub row_totals: Vec<Cell>,
    pub column_totals: Vec<Cell>,
    pub total: Cell,
}

/// Protects a table (rows × columns) published with its row totals, column
/// totals and grand total.
pub fn protect(table: &[Vec<i64>]) -> Protected {
    let rows = table.len();
    let cols = table.iter().map(Vec::len).max().unwrap_or(0);
    let get = |r: usize, c: usize| {
        table
            .get(r)
            .and_then(|row| row.get(c))
            .copied()
            .unwrap_or(0)
    };
    // Layout: cells row by row, then row totals, then column totals, then the total.
    let cell = |r: usize, c: usize| r * cols + c;
    let row_total = |r: usize| rows * cols + r;
    let col_total = |c: usize| rows * cols + rows + c;
    let grand = rows * cols + rows + cols;
    let mut values = Vec::with_capacity(grand + 1);
    for r in 0..rows {
        for c in 0..cols {
            values.push(get(r, c));
        }
    }
    for r in 0..rows {
        values.push((0..cols).map(|c| get(r, c)).sum());
    }
    for c in 0..cols {
        values.push((0..rows).map(|r| get(r, c)).sum());
    }
    values.push(table.iter().flatten().sum());
    let mut equations = Vec::with_capacity(rows + cols + 2);
    for r in 0..rows {
        equations.push(((0..cols).map(|c| cell(r, c)).collect(), row_total(r)));
    }
    for c in 0..cols {
        equations.push(((0..rows).map(|r| cell(r, c)).collect(), col_total(c)));
    }
    equations.push(((0..rows).map(row_total).collect(), grand));
    equations.push(((0..cols).map(col_total).collect(), grand));
    let out = System::new(values, equations).solve();
    let at = |i: usize| out.get(i).copied().flatten();
    Protected {
        cells: (0..rows)
            .map(|r| (0..cols).map(|c| at(cell(r, c))).collect())
            .collect(),
        row_totals: (0..rows).map(|r| at(row_total(r))).collect(),
        column_totals: (0..cols).map(|c| at(col_total(c))).collect(),
        total: at(grand),
    }
}

/// How a figure is written: the number, or « secret » when masked.
pub fn show(cell: Cell) -> String {
    match cell {
        Some(v) => crate::domain::thousands(v),
        None => "secret".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What someone holding the published figures can deduce from one equation:
    /// a lone masked figure, or masked members whose sum is below the threshold.
    fn leaks(members: &[(i64, Cell)], total: (i64, Cell)) -> bool {
        let hidden: Vec<i64> = members
            .iter()
            .filter(|(_, c)| c.is_none())
            .map(|(v, _)| *v)
            .collect();
        let total_hidden = total.1.is_none();
        let count = hidden.len() + usize::from(total_hidden);
        if count == 1 {
            return true;
        }
        !total_hidden && {
            let s: i64 = hidden.iter().sum();
            s > 0 && s < THRESHOLD
        }
    }

    fn published_small(values: &[(i64, Cell)]) -> bool {
        values.iter().any(|(v, c)| c.is_some() && sensitive(*v))
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

    fn generator() -> impl FnMut() -> u64 {
        let mut seed = 0x2545_f491_u64;
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    #[test]
    fn no_masked_figure_can_be_recovered_in_generated_lists() {
        let mut next = generator();
        for _ in 0..3_000 {
            let n = 1 + (next() % 8) as usize;
            let values: Vec<i64> = (0..n)
                .map(|_| match next() % 4 {
                    0 => 0,
                    1 => (next() % 5) as i64,
                    _ => (next() % 60) as i64,
                })
                .collect();
            let (cells, total) = one_way(&values);
            let pairs: Vec<(i64, Cell)> = values.iter().copied().zip(cells).collect();
            let t = (values.iter().sum(), total);
            assert!(!leaks(&pairs, t), "{values:?} → {pairs:?} / {total:?}");
            assert!(!published_small(&pairs) && !published_small(&[t]));
        }
    }

    #[test]
    fn no_masked_figure_can_be_recovered_in_generated_tables() {
        let mut next = generator();
        for _ in 0..1_500 {
            let rows = 1 + (next() % 5) as usize;
            let cols = 1 + (next() % 5) as usize;
            let table: Vec<Vec<i64>> = (0..rows)
                .map(|_| {
                    (0..cols)
                        .map(|_| match next() % 4 {
                            0 => 0,
                            1 => (next() % 5) as i64,
                            _ => (next() % 40) as i64,
                        })
                        .collect()
                })
                .collect();
            let p = protect(&table);
            let get = |r: usize, c: usize| *table.get(r).unwrap().get(c).unwrap();
            let pc = |r: usize, c: usize| *p.cells.get(r).unwrap().get(c).unwrap();
            let mut row_totals = Vec::new();
            for r in 0..rows {
                let members: Vec<(i64, Cell)> = (0..cols).map(|c| (get(r, c), pc(r, c))).collect();
                let t: i64 = members.iter().map(|m| m.0).sum();
                let total = (t, *p.row_totals.get(r).unwrap());
                assert!(!leaks(&members, total), "row {r} of {table:?}: {p:?}");
                assert!(!published_small(&members) && !published_small(&[total]));
                row_totals.push(total);
            }
            let mut col_totals = Vec::new();
            for c in 0..cols {
                let members: Vec<(i64, Cell)> = (0..rows).map(|r| (get(r, c), pc(r, c))).collect();
                let t: i64 = members.iter().map(|m| m.0).sum();
                let total = (t, *p.column_totals.get(c).unwrap());
                assert!(!leaks(&members, total), "column {c} of {table:?}: {p:?}");
                col_totals.push(total);
            }
            let g: i64 = table.iter().flatten().sum();
            assert!(!leaks(&row_totals, (g, p.total)), "{table:?}: {p:?}");
            assert!(!leaks(&col_totals, (g, p.total)), "{table:?}: {p:?}");
        }
    }
}
