//! Render speed: a 100×100 table and a "teams" page built with `ui!`, against the same
//! HTML written by hand with maud's `html!`, in one run. `cargo bench --bench render`.
//!
//! `ferrex` turns the page into its HTML with `Node::into_html` (as the server does, and as
//! maud's `into_string` does); `ferrex_to_html` borrows the page with `Node::to_html`,
//! which copies the finished HTML once more.

use criterion::{Criterion, criterion_group, criterion_main};
use ferrex::prelude::*;
use maud::html;
use std::hint::black_box;

fn table_ferrex(rows: &[Vec<u32>]) -> Node {
    ui! {
        r#box(
            for row in rows {
                r#box(for cell in row { text(*cell) }, class = "row")
            },
            class = "table",
        )
    }
}

fn table_maud(rows: &[Vec<u32>]) -> String {
    html! {
        div class="fx-box table" {
            @for row in rows {
                div class="fx-box row" {
                    @for cell in row { p class="fx-text" { (cell) } }
                }
            }
        }
    }
    .into_string()
}

struct Team {
    name: String,
    members: Vec<String>,
}

fn teams_ferrex(teams: &[Team]) -> Node {
    ui! {
        container(
            heading("Teams", level = 1),
            for team in teams {
                vstack(
                    heading({ &team.name }, level = 2),
                    list(for m in &team.members { list_item(m) }),
                )
            },
        )
    }
}

fn teams_maud(teams: &[Team]) -> String {
    html! {
        div class="fx-container" {
            h1 class="fx-heading" { "Teams" }
            @for team in teams {
                div class="fx-vstack" {
                    h2 class="fx-heading" { (team.name) }
                    ul class="fx-list" {
                        @for m in &team.members { li class="fx-list-item" { (m) } }
                    }
                }
            }
        }
    }
    .into_string()
}

fn benches(c: &mut Criterion) {
    let rows: Vec<Vec<u32>> = (0..100)
        .map(|r| (0..100).map(|c| r * 100 + c).collect())
        .collect();
    // The two must produce the same markup for the comparison to mean anything.
    assert_eq!(table_ferrex(&rows).into_html(), table_maud(&rows));
    assert_eq!(table_ferrex(&rows).to_html(), table_maud(&rows));
    let teams: Vec<Team> = (0..50)
        .map(|t| Team {
            name: format!("Team <{t}>"),
            members: (0..20).map(|m| format!("Member {m} & co")).collect(),
        })
        .collect();
    assert_eq!(teams_ferrex(&teams).into_html(), teams_maud(&teams));
    assert_eq!(teams_ferrex(&teams).to_html(), teams_maud(&teams));

    let mut group = c.benchmark_group("table_100x100");
    group.bench_function("ferrex", |b| {
        b.iter(|| table_ferrex(black_box(&rows)).into_html())
    });
    group.bench_function("ferrex_to_html", |b| {
        b.iter(|| table_ferrex(black_box(&rows)).to_html())
    });
    group.bench_function("maud", |b| b.iter(|| table_maud(black_box(&rows))));
    group.finish();
    let mut group = c.benchmark_group("teams_50x20");
    group.bench_function("ferrex", |b| {
        b.iter(|| teams_ferrex(black_box(&teams)).into_html())
    });
    group.bench_function("ferrex_to_html", |b| {
        b.iter(|| teams_ferrex(black_box(&teams)).to_html())
    });
    group.bench_function("maud", |b| b.iter(|| teams_maud(black_box(&teams))));
    group.finish();
}

criterion_group!(render, benches);
criterion_main!(render);
