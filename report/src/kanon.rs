//! k-anonymity at the output: cell suppression with complementary
//! suppression, on tables of people counts with their row and column totals.
//!
//! A [`Grid`] is an R × C table of counts extended by its margins: row R
//! holds the column totals, column C the row totals, (R, C) the grand total;
//! every extended row and column sums to its margin (a *line*).
//! [`Grid::protect`] hides cells so that
//!
//! 1. **primary**: no published count lies in (0, k) — a count of 0 people
//!    is safe and published as 0; a hidden cell is never shown as 0;
//! 2. **no lone hidden cell**: a line holds either no hidden cell or at least
//!    two (else the one would be its margin minus the published cells);
//!    the complement is the smallest non-zero published cell, else the margin;
//! 3. **no small hidden sum**: where a line's margin is published, its hidden
//!    cells add up to 0 or at least k (their sum is the margin minus the rest);
//! 4. **no cell determined by any combination of lines**: the hidden cells as
//!    edges between row and column nodes form a graph without bridges — a
//!    hidden cell is determined by the published cells of a two-way table
//!    exactly when it is a bridge of that graph; a bridge gets a complement
//!    that closes a cycle through it.
//!
//! 5. **no small sum of a group determined** ([`Grid::protect_group`]): where
//!    a count published elsewhere is the sum of some columns of a row (the
//!    watchers: the attention bins from `min_attention` up), that sum is
//!    determined by the published cells exactly when no cycle of hidden cells
//!    passes the row through a column of the group and one outside it; then
//!    it is published (it tells nothing new) if 0 or at least k, else a
//!    complement closes such a cycle.
//!
//! Several grids may share their margin column (the OTS of a row is the
//! margin of both histograms and the demographics): [`protect_joint`] hides
//! a shared margin in all of them.
//!
//! Two tables of one report that sum the same people by different keys (the
//! per-content bars and a main table by content × day; the hour × weekday
//! heatmap and the main table) are protected together by a *linked* grid
//! ([`Grid::linked`]): its rows are one table's rows, its columns the
//! other's, its margins their published counts (shared masks) and its inner
//! cells the counts their rows have in common — unpublished (*free*: unknowns
//! that need no protection) where they share input cells, a known 0 where
//! they share none. Rule 4 on it: a hidden margin that is a bridge is worked
//! out from the other table, and gets a complement (a further margin). The
//! column table is settled (its margins, the total included, are never a
//! complement): the complements fall on the row table, the chart.
//!
//! What this does **not** protect: differences between two reports with
//! different filters or periods (a report for Monday and one for Monday to
//! Tuesday differ by Tuesday, suppressed or not), nor sums of several hidden
//! cells spanning more than one line; intervals (a hidden cell lies between
//! 0 and its line's margin) are narrowed but not widened to a set width.

/// A two-way table of counts with its margins and a hidden mask.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    rows: usize,
    cols: usize,
    /// (rows + 1) × (cols + 1), row-major; the last row and column are margins.
    values: Vec<u64>,
    hidden: Vec<bool>,
    /// Unpublished unknowns (hidden, never a complement, never protected).
    free: Vec<bool>,
    /// Known to be 0 (rows without common cells): never hidden.
    fixed: Vec<bool>,
}

impl Grid {
    /// A grid of `cells` (rows × `cols`) with computed margins.
    pub fn new(cells: &[Vec<u64>], cols: usize) -> Self {
        let rows = cells.len();
        let w = cols + 1;
        let mut values = vec![0u64; (rows + 1) * w];
        for (i, r) in cells.iter().enumerate() {
            assert_eq!(r.len(), cols, "every row has {cols} cells");
            for (j, &v) in r.iter().enumerate() {
                values[i * w + j] = v;
                values[i * w + cols] += v;
                values[rows * w + j] += v;
                values[rows * w + cols] += v;
            }
        }
        let n = values.len();
        Self { rows, cols, hidden: vec![false; n], free: vec![false; n], fixed: vec![false; n], values }
    }

    /// A linked grid: `rows` × `cols` inner cells, `shared` the (row, column,
    /// count) that share input cells (free), every other inner cell a known 0;
    /// margins computed, published until hidden; the margin row (the column
    /// table's counts and the total) never a complement.
    pub fn linked(rows: usize, cols: usize, shared: &[(usize, usize, u64)]) -> Self {
        let w = cols + 1;
        let n = (rows + 1) * w;
        let mut g = Self {
            rows,
            cols,
            values: vec![0; n],
            hidden: vec![false; n],
            free: vec![false; n],
            fixed: vec![false; n],
        };
        for i in 0..rows {
            g.fixed[i * w..i * w + cols].fill(true);
        }
        g.fixed[rows * w..].fill(true);
        for &(i, j, v) in shared {
            let a = i * w + j;
            g.values[a] += v;
            g.values[i * w + cols] += v;
            g.values[rows * w + j] += v;
            g.values[rows * w + cols] += v;
            (g.fixed[a], g.free[a], g.hidden[a]) = (false, true, true);
        }
        g
    }

    /// Rows without the margin row.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns without the margin column.
    pub fn cols(&self) -> usize {
        self.cols
    }

    fn at(&self, i: usize, j: usize) -> usize {
        i * (self.cols + 1) + j
    }

    /// The count at extended position (i, j) (i = rows: column total, j = cols: row total).
    pub fn value(&self, i: usize, j: usize) -> u64 {
        self.values[self.at(i, j)]
    }

    pub fn is_hidden(&self, i: usize, j: usize) -> bool {
        self.hidden[self.at(i, j)]
    }

    /// Hides (i, j); whether it was published before.
    pub fn hide(&mut self, i: usize, j: usize) -> bool {
        let a = self.at(i, j);
        !std::mem::replace(&mut self.hidden[a], true)
    }

    fn is_free(&self, i: usize, j: usize) -> bool {
        self.free[self.at(i, j)]
    }

    /// Every extended line: (its cells, its margin), as (i, j) positions.
    fn lines(&self) -> impl Iterator<Item = (Vec<(usize, usize)>, (usize, usize))> + '_ {
        let (r, c) = (self.rows, self.cols);
        let row_lines = (0..=r).map(move |i| ((0..c).map(|j| (i, j)).collect(), (i, c)));
        let col_lines = (0..=c).map(move |j| ((0..r).map(|i| (i, j)).collect(), (r, j)));
        row_lines.chain(col_lines)
    }

    /// Hides every count in (0, k); true if anything changed.
    pub fn hide_small(&mut self, k: u64) -> bool {
        let mut changed = false;
        for a in 0..self.values.len() {
            if self.values[a] > 0 && self.values[a] < k && !self.hidden[a] {
                self.hidden[a] = true;
                changed = true;
            }
        }
        changed
    }

    /// The complement to hide among `candidates`: the smallest non-zero
    /// published non-margin cell, else a published non-zero margin, else a
    /// published zero (only useful against exact recovery).
    fn pick(&self, candidates: impl Iterator<Item = (usize, usize)>) -> Option<(usize, usize)> {
        let is_margin = |(i, j): (usize, usize)| i == self.rows || j == self.cols;
        candidates.filter(|&(i, j)| !self.is_hidden(i, j) && !self.fixed[self.at(i, j)]).min_by_key(|&(i, j)| {
            let v = self.value(i, j);
            let class = match (v > 0, is_margin((i, j))) {
                (true, false) => 0,
                (true, true) => 1,
                (false, _) => 2,
            };
            (class, v, i, j)
        })
    }

    /// Rules 2 and 3 on every line; true if anything changed.
    fn protect_lines(&mut self, k: u64) -> bool {
        let mut changed = false;
        let lines: Vec<_> = self.lines().collect();
        for (cells, margin) in lines {
            // A free unknown in the line absorbs any difference: the line tells nothing by itself.
            if cells.iter().chain([&margin]).any(|&(i, j)| self.is_free(i, j)) {
                continue;
            }
            loop {
                let hidden = cells.iter().chain([&margin]).filter(|&&(i, j)| self.is_hidden(i, j)).count();
                let sum: u64 =
                    cells.iter().filter(|&&(i, j)| self.is_hidden(i, j)).map(|&(i, j)| self.value(i, j)).sum();
                let margin_published = !self.is_hidden(margin.0, margin.1);
                let small_sum = margin_published && sum > 0 && sum < k;
                if hidden != 1 && !small_sum {
                    break;
                }
                // Against a small sum only a non-zero cell (or the margin) helps.
                let pick = if small_sum {
                    self.pick(cells.iter().copied().filter(|&(i, j)| self.value(i, j) > 0))
                        .or(margin_published.then_some(margin))
                } else {
                    self.pick(cells.iter().copied().chain([margin]))
                };
                match pick {
                    Some((i, j)) => {
                        self.hide(i, j);
                        changed = true;
                    }
                    None => break,
                }
            }
        }
        changed
    }

    /// Hidden cells as edges: row node i, column node rows + 1 + j.
    fn hidden_edges(&self) -> Vec<(usize, usize)> {
        let mut edges = Vec::new();
        for i in 0..=self.rows {
            for j in 0..=self.cols {
                if self.is_hidden(i, j) {
                    edges.push((i, j));
                }
            }
        }
        edges
    }

    /// The hidden cells that some combination of published cells determines
    /// (the bridges of the hidden-cell graph).
    pub fn recoverable(&self) -> Vec<(usize, usize)> {
        let edges = self.hidden_edges();
        bridges(self.rows + self.cols + 2, &edges, self.rows + 1)
            .into_iter()
            .map(|e| edges[e])
            .filter(|&(i, j)| !self.is_free(i, j))
            .collect()
    }

    /// Rule 4: a complement for every bridge; true if anything changed.
    fn protect_bridges(&mut self) -> bool {
        let edges = self.hidden_edges();
        let n = self.rows + self.cols + 2;
        let rows = self.rows;
        let col_node = move |j: usize| rows + 1 + j;
        let mut changed = false;
        for e in bridges(n, &edges, self.rows + 1) {
            let (bi, bj) = edges[e];
            if self.is_free(bi, bj) {
                continue; // unpublished: nothing to protect
            }
            // The side of the row node and the side of the column node, the bridge removed.
            let current = self.hidden_edges();
            let mut adj = vec![Vec::new(); n];
            for &(i, j) in &current {
                if (i, j) != (bi, bj) {
                    adj[i].push(col_node(j));
                    adj[col_node(j)].push(i);
                }
            }
            let a = reach(&adj, bi);
            if a[col_node(bj)] {
                continue; // an earlier complement already closed a cycle
            }
            let b = reach(&adj, col_node(bj));
            let rows_b: Vec<usize> = (0..=self.rows).filter(|&i| b[i]).collect();
            let cols_a: Vec<usize> = (0..=self.cols).filter(|&j| a[col_node(j)]).collect();
            let candidates = rows_b.iter().flat_map(|&i| cols_a.iter().map(move |&j| (i, j)));
            // A cell from the row side to the column side closes a cycle too (in a linked grid
            // the only cells that can be hidden are margins, often on that side only).
            let rows_a: Vec<usize> = (0..=self.rows).filter(|&i| a[i]).collect();
            let cols_b: Vec<usize> = (0..=self.cols).filter(|&j| b[col_node(j)]).collect();
            let reverse = rows_a.iter().flat_map(|&i| cols_b.iter().map(move |&j| (i, j)));
            let pick = self.pick(candidates).or_else(|| self.pick(reverse));
            // Else the fewest cells that join the two sides through nodes of neither.
            for (i, j) in pick.map_or_else(|| self.path_between(&a, &b, (bi, bj)), |c| vec![c]) {
                self.hide(i, j);
                changed = true;
            }
        }
        changed
    }

    /// The published cells to hide so that hidden cells join a node of `from`
    /// to one of `to` without `bridge` (fewest cells, hidden cells on the way
    /// for free: a 0-1 breadth-first search); empty if none can.
    fn path_between(&self, to: &[bool], from: &[bool], bridge: (usize, usize)) -> Vec<(usize, usize)> {
        let (n, w) = (self.rows + self.cols + 2, self.cols + 1);
        let node = |x: usize| (x / w, self.rows + 1 + x % w);
        let mut adj: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
        let skip = self.at(bridge.0, bridge.1);
        for (x, &fixed) in self.fixed.iter().enumerate() {
            if !fixed && x != skip {
                let (r, c) = node(x);
                adj[r].push((c, x));
                adj[c].push((r, x));
            }
        }
        let mut dist = vec![usize::MAX; n];
        let mut via = vec![usize::MAX; n];
        let mut queue = std::collections::VecDeque::new();
        for u in (0..n).filter(|&u| from[u]) {
            dist[u] = 0;
            queue.push_back(u);
        }
        while let Some(u) = queue.pop_front() {
            if to[u] {
                let mut out = Vec::new();
                let mut v = u;
                while via[v] != usize::MAX {
                    let x = via[v];
                    if !self.hidden[x] {
                        out.push((x / w, x % w));
                    }
                    let (r, c) = node(x);
                    v = if v == r { c } else { r };
                }
                return out;
            }
            for &(v, x) in &adj[u] {
                let d = dist[u] + usize::from(!self.hidden[x]);
                if d < dist[v] {
                    dist[v] = d;
                    via[v] = x;
                    if self.hidden[x] { queue.push_front(v) } else { queue.push_back(v) }
                }
            }
        }
        Vec::new()
    }

    /// Whether the published cells determine the sum of row `i`'s cells in the
    /// columns `group` (i = rows: the column totals). It does exactly when no
    /// cycle of hidden cells passes row `i` through a cell of the group and one
    /// outside it (its margin included): two edges at a node lie on one cycle
    /// when they are in the same block (biconnected component).
    pub fn group_determined(&self, i: usize, group: std::ops::Range<usize>) -> bool {
        self.groups_determined(group)[i]
    }

    /// [`Grid::group_determined`] for every row (the column totals last), from
    /// one walk of the hidden cells: asking row by row walks them once a row.
    pub fn groups_determined(&self, group: std::ops::Range<usize>) -> Vec<bool> {
        let edges = self.hidden_edges();
        let block = blocks(self.rows + self.cols + 2, &edges, self.rows + 1);
        let (mut inside, mut outside) = (vec![Vec::new(); self.rows + 1], vec![Vec::new(); self.rows + 1]);
        for (e, &(r, j)) in edges.iter().enumerate() {
            if group.contains(&j) { inside[r].push(block[e]) } else { outside[r].push(block[e]) }
        }
        inside.iter().zip(&outside).map(|(inside, outside)| !inside.iter().any(|b| outside.contains(b))).collect()
    }

    /// Rule 5, for a count published elsewhere as the sum of row `i`'s cells in
    /// `group` (the watchers: the attention bins from `min_attention` up):
    /// where the published cells determine that sum and it lies in (0, k), or
    /// always where `force`, hides a cell that closes a cycle through a cell
    /// of the group and one outside it. True if anything changed.
    pub fn protect_group(&mut self, i: usize, group: std::ops::Range<usize>, k: u64, force: bool) -> bool {
        let sum: u64 = group.clone().map(|j| self.value(i, j)).sum();
        if !(force || (sum > 0 && sum < k)) || !self.group_determined(i, group.clone()) {
            return false;
        }
        // Components of the hidden cells off row i; row i split in its group side and the rest.
        let rows = self.rows;
        let col_node = move |j: usize| rows + 1 + j;
        let mut parent: Vec<usize> = (0..rows + self.cols + 2).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        let edges = self.hidden_edges();
        for &(r, j) in edges.iter().filter(|e| e.0 != i) {
            let (a, b) = (find(&mut parent, r), find(&mut parent, col_node(j)));
            parent[a] = b;
        }
        let (mut side_in, mut side_out) = (Vec::new(), Vec::new());
        for &(_, j) in edges.iter().filter(|e| e.0 == i) {
            let c = find(&mut parent, col_node(j));
            if group.contains(&j) { side_in.push(c) } else { side_out.push(c) }
        }
        let mut candidates = Vec::new();
        for r in 0..=self.rows {
            for j in 0..=self.cols {
                let c = find(&mut parent, col_node(j));
                let joins = if r == i {
                    // Row i's cell joins its own side to the column's component.
                    if group.contains(&j) { side_out.contains(&c) } else { side_in.contains(&c) }
                } else {
                    let rc = find(&mut parent, r);
                    (side_in.contains(&rc) && side_out.contains(&c)) || (side_out.contains(&rc) && side_in.contains(&c))
                };
                if joins {
                    candidates.push((r, j));
                }
            }
        }
        // Else a cell of row i outside the group: the next round finds its cycle.
        let outside_row = (0..=self.cols).filter(|j| !group.contains(j)).map(|j| (i, j));
        match self.pick(candidates.into_iter()).or_else(|| self.pick(outside_row)) {
            Some((r, j)) => self.hide(r, j),
            None => false,
        }
    }

    /// Rule 4 on a linked grid until nothing changes (its margin lines are
    /// its two tables' own, protected there); true if anything changed.
    pub fn protect_linked(&mut self) -> bool {
        let mut changed = false;
        while self.protect_bridges() {
            changed = true;
        }
        changed
    }

    /// Rules 1 to 4 until nothing changes.
    pub fn protect(&mut self, k: u64) {
        self.hide_small(k);
        loop {
            let lines = self.protect_lines(k);
            let bridges = self.protect_bridges();
            if !lines && !bridges {
                break;
            }
        }
    }
}

/// Which nodes `from` reaches.
fn reach(adj: &[Vec<usize>], from: usize) -> Vec<bool> {
    let mut seen = vec![false; adj.len()];
    let mut stack = vec![from];
    seen[from] = true;
    while let Some(u) = stack.pop() {
        for &v in &adj[u] {
            if !seen[v] {
                seen[v] = true;
                stack.push(v);
            }
        }
    }
    seen
}

/// The block (biconnected component) of each edge of a multigraph on `n`
/// nodes whose edges (row i, column j) join node i and node `col_base + j`
/// (iterative Tarjan with an edge stack). Blocks are numbered in the order the
/// walk closes them.
fn blocks(n: usize, edges: &[(usize, usize)], col_base: usize) -> Vec<usize> {
    let mut adj: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (e, &(i, j)) in edges.iter().enumerate() {
        adj[i].push((col_base + j, e));
        adj[col_base + j].push((i, e));
    }
    let mut disc = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut block = vec![usize::MAX; edges.len()];
    let (mut timer, mut blocks) = (0, 0);
    let mut edge_stack = Vec::new();
    for root in 0..n {
        if disc[root] != usize::MAX || adj[root].is_empty() {
            continue;
        }
        // (node, edge it was entered by, next adjacency index)
        let mut stack = vec![(root, usize::MAX, 0usize)];
        disc[root] = timer;
        low[root] = timer;
        timer += 1;
        while let Some(&mut (u, via, ref mut next)) = stack.last_mut() {
            if *next < adj[u].len() {
                let (v, e) = adj[u][*next];
                *next += 1;
                if e == via {
                    continue;
                }
                if disc[v] == usize::MAX {
                    edge_stack.push(e);
                    disc[v] = timer;
                    low[v] = timer;
                    timer += 1;
                    stack.push((v, e, 0));
                } else if disc[v] < disc[u] {
                    // A back edge (seen once: from its lower end it is skipped below).
                    edge_stack.push(e);
                    low[u] = low[u].min(disc[v]);
                }
            } else {
                stack.pop();
                if let Some(&(p, _, _)) = stack.last() {
                    low[p] = low[p].min(low[u]);
                    if low[u] >= disc[p] {
                        while let Some(e) = edge_stack.pop() {
                            block[e] = blocks;
                            if e == via {
                                break;
                            }
                        }
                        blocks += 1;
                    }
                }
            }
        }
    }
    block
}

/// Indices of the bridge edges of the graph [`blocks`] reads: its blocks of one
/// edge, in the order the walk closes them, which is the order Tarjan's bridge
/// walk finds them in (a bridge closes its block as the walk leaves it), and
/// the order [`Grid::protect_bridges`] gives complements in.
fn bridges(n: usize, edges: &[(usize, usize)], col_base: usize) -> Vec<usize> {
    let block = blocks(n, edges, col_base);
    let count = block.iter().max().map_or(0, |&b| b + 1);
    let (mut size, mut edge) = (vec![0usize; count], vec![0usize; count]);
    for (e, &b) in block.iter().enumerate() {
        size[b] += 1;
        edge[b] = e;
    }
    (0..count).filter(|&b| size[b] == 1).map(|b| edge[b]).collect()
}

/// Protects grids that share their margin column (same rows, same row
/// totals): a row total hidden in one is hidden in all, until nothing changes.
pub fn protect_joint(grids: &mut [Grid], k: u64) {
    let Some(rows) = grids.first().map(Grid::rows) else { return };
    loop {
        let mut shared = vec![false; rows + 1];
        for g in grids.iter_mut() {
            g.protect(k);
            for (i, s) in shared.iter_mut().enumerate() {
                *s |= g.is_hidden(i, g.cols());
            }
        }
        let mut changed = false;
        for g in grids.iter_mut() {
            let c = g.cols();
            for (i, &s) in shared.iter().enumerate() {
                if s {
                    changed |= g.hide(i, c);
                }
            }
        }
        if !changed {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_small_cell_gets_a_complement() {
        let mut g = Grid::new(&[vec![3, 10, 20], vec![8, 9, 30]], 3);
        g.protect(5);
        assert!(g.is_hidden(0, 0));
        // Not the only hidden one in row 0 or in column 0.
        assert!((1..=3).any(|j| g.is_hidden(0, j)));
        assert!((1..=2).any(|i| g.is_hidden(i, 0)));
        assert!(g.recoverable().is_empty(), "{g:?}");
        for i in 0..=2 {
            for j in 0..=3 {
                let v = g.value(i, j);
                assert!(g.is_hidden(i, j) || v == 0 || v >= 5);
            }
        }
    }

    #[test]
    fn zero_is_published_and_big_counts_stay() {
        let mut g = Grid::new(&[vec![0, 10], vec![6, 9]], 2);
        g.protect(5);
        assert!(!g.hidden.iter().any(|&h| h));
    }

    #[test]
    fn bridges_are_found() {
        // A 2x2 block is a cycle: no bridge; a path is all bridges.
        let cycle = [(0, 0), (0, 1), (1, 0), (1, 1)];
        assert!(bridges(6, &cycle, 3).is_empty());
        let path = [(0, 0), (1, 0), (1, 1)];
        assert_eq!(bridges(6, &path, 3).len(), 3);
        // A pendant edge on the cycle: the only bridge.
        let pendant = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 1)];
        assert_eq!(bridges(6, &pendant, 3), [4]);
    }

    #[test]
    fn a_group_sum_is_determined_unless_a_cycle_crosses_it() {
        // Rows 0 and 1 hide columns 1 and 2: no cell is determined, but row 0's sum of
        // columns 1 and 2 (3 people) is its total minus column 0.
        let mut g = Grid::new(&[vec![10, 2, 1], vec![10, 6, 7], vec![10, 8, 9]], 3);
        for (i, j) in [(0, 1), (0, 2), (1, 1), (1, 2)] {
            g.hide(i, j);
        }
        assert!(g.recoverable().is_empty());
        assert!(g.group_determined(0, 1..3));
        assert!(!g.protect_group(1, 1..3, 5, false), "row 1's 13 people may be known");
        while g.protect_group(0, 1..3, 5, false) {
            g.protect(5);
        }
        assert!(!g.group_determined(0, 1..3), "{g:?}");
        assert!(g.recoverable().is_empty());
        // The blocks: a 4-cycle is one, a pendant edge another.
        let b = blocks(6, &[(0, 0), (0, 1), (1, 0), (1, 1), (2, 1)], 3);
        assert!(b[..4].iter().all(|&x| x == b[0]) && b[4] != b[0], "{b:?}");
    }

    #[test]
    fn a_linked_margin_is_not_worked_out_from_the_other_table() {
        // Bars (rows: 2 contents) and a main table by content × day (columns: 4 rows of it):
        // content 0 ran on days 0 and 1 (3 and 40 people), content 1 on days 2 and 3 (50, 60).
        let mut g = Grid::linked(2, 4, &[(0, 0, 3), (0, 1, 40), (1, 2, 50), (1, 3, 60)]);
        assert_eq!((g.value(0, 4), g.value(2, 1), g.value(2, 4)), (43, 40, 153));
        assert!(!g.is_hidden(0, 2), "no common cells: a known 0");
        // The main table hid day 0 and, as its complement, day 2 (of the other content):
        // each is its bar minus the other day.
        g.hide(2, 0);
        g.hide(2, 2);
        let mut recoverable = g.recoverable();
        recoverable.sort();
        assert_eq!(recoverable, vec![(2, 0), (2, 2)]);
        assert!(g.protect_linked());
        assert!(g.recoverable().is_empty(), "{g:?}");
        // The main table is settled: the complements are the bars.
        assert!(g.is_hidden(0, 4) && g.is_hidden(1, 4), "{g:?}");
        for (i, j) in [(0, 2), (0, 3), (1, 0), (1, 1), (2, 1), (2, 3), (2, 4)] {
            assert!(!g.is_hidden(i, j), "({i}, {j}): a known 0 or a settled count: {g:?}");
        }
    }

    #[test]
    fn joint_grids_share_row_totals() {
        // Row 0 has 3 people: hidden as a total in both grids.
        let a = Grid::new(&[vec![1, 2], vec![10, 10], vec![10, 12]], 2);
        let b = Grid::new(&[vec![3, 0], vec![5, 15], vec![11, 11]], 2);
        let mut gs = [a, b];
        protect_joint(&mut gs, 5);
        for g in &gs {
            assert!(g.is_hidden(0, 2));
            assert!(g.recoverable().is_empty());
            for i in 0..=3 {
                assert_eq!(g.is_hidden(i, 2), gs[0].is_hidden(i, 2));
            }
        }
    }
}
