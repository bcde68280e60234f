//! Render speed: a 100×100 table and a "teams" page built with `ui!`, against the same
//! HTML written by hand with maud's `html!`, in one run. `cargo bench --bench render`.

use criterion::{Criterion, criterion_group, criterion_main};
use ferrex::prelude::*;
use maud::html;
use std::hint::black_box;

fn table_ferrex(rows: &[Vec<u32>]) -> String {
    let page: Node = ui! {
        r#box(
            for row in rows {
                r#box(for cell in row { text(*cell) }, class = "row")
            },
            class = "table",
        )
    };
    page.to_html()
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

fn teams_ferrex(teams: &[Team]) -> String {
    let page: Node = ui! {
        container(
            heading("Teams", level = 1),
            for team in teams {
                vstack(
                    heading({ &team.name }, level = 2),
                    list(for m in &team.members { list_item(m) }),
                )
            },
        )
    };
    page.to_html()
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
    assert_eq!(table_ferrex(&rows), table_maud(&rows));
    let teams: Vec<Team> = (0..50)
        .map(|t| Team {
            name: format!("Team <{t}>"),
            members: (0..20).map(|m| format!("Member {m} & co")).collect(),
        })
        .collect();
    assert_eq!(teams_ferrex(&teams), teams_maud(&teams));

    let mut group = c.benchmark_group("table_100x100");
    group.bench_function("ferrex", |b| b.iter(|| table_ferrex(black_box(&rows))));
    group.bench_function("maud", |b| b.iter(|| table_maud(black_box(&rows))));
    group.finish();
    let mut group = c.benchmark_group("teams_50x20");
    group.bench_function("ferrex", |b| b.iter(|| teams_ferrex(black_box(&teams))));
    group.bench_function("maud", |b| b.iter(|| teams_maud(black_box(&teams))));
    group.finish();
}

criterion_group!(render, benches);
criterion_main!(render);
