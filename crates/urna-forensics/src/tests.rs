//! Statistic definitions against values computed independently, and invariants.

use proptest::prelude::*;

use super::*;

/// The Election Forensics Toolkit's point statistics (2BL, LastC, C05s, P05s, Skew, Kurt) and
/// Obs for Albania 2013 per prefecture, computed once by an independent Python script
/// (`testdata/eft_vectors.py`, standard library only, written from the toolkit's R
/// definitions) and fixed here as test vectors.
const EFT_ALBANIA_2013: [(&str, &str, [f64; 6], usize); 36] = [
    (
        "Turnout",
        "BERAT",
        [4.244147, 4.600000, 0.216667, 0.197324, 0.260714, 3.473536],
        300,
    ),
    (
        "Turnout",
        "DIBER",
        [4.166667, 4.162791, 0.224806, 0.220930, 1.685198, 4.953561],
        258,
    ),
    (
        "Turnout",
        "DURRES",
        [4.572072, 4.349099, 0.193694, 0.173423, 1.353746, 3.211228],
        444,
    ),
    (
        "Turnout",
        "ELBASAN",
        [4.344961, 4.453488, 0.195736, 0.217054, 1.499866, 4.085629],
        516,
    ),
    (
        "Turnout",
        "FIER",
        [4.372760, 4.500000, 0.181004, 0.207885, 1.581985, 4.571594],
        558,
    ),
    (
        "Turnout",
        "GJIROKASTER",
        [4.548523, 4.265823, 0.227848, 0.286920, 0.719633, 2.165522],
        237,
    ),
    (
        "Turnout",
        "KORCE",
        [4.581655, 4.718121, 0.190157, 0.232662, 1.091800, 3.224954],
        447,
    ),
    (
        "Turnout",
        "KUKES",
        [4.206061, 4.703030, 0.224242, 0.212121, 0.473991, 6.094839],
        165,
    ),
    (
        "Turnout",
        "LEZHE",
        [4.230469, 4.468750, 0.191406, 0.218750, 2.457588, 11.129429],
        256,
    ),
    (
        "Turnout",
        "SHKODER",
        [4.168776, 4.295359, 0.202532, 0.177215, 1.775908, 8.609350],
        474,
    ),
    (
        "Turnout",
        "TIRANE",
        [4.557354, 4.468684, 0.190007, 0.184377, 1.391685, 6.048780],
        1421,
    ),
    (
        "Turnout",
        "VLORE",
        [4.645012, 4.372685, 0.231481, 0.222738, 1.634261, 6.256015],
        432,
    ),
    (
        "C035",
        "BERAT",
        [4.053691, 4.656667, 0.213333, 0.190635, -0.204798, 3.142895],
        300,
    ),
    (
        "C035",
        "DIBER",
        [4.000000, 4.321705, 0.224806, 0.186047, 0.006315, 2.822861],
        258,
    ),
    (
        "C035",
        "DURRES",
        [3.725000, 4.322072, 0.247748, 0.204955, -0.420060, 4.408715],
        444,
    ),
    (
        "C035",
        "ELBASAN",
        [4.217899, 4.432171, 0.195736, 0.203488, 0.237241, 3.833900],
        516,
    ),
    (
        "C035",
        "FIER",
        [4.093357, 4.188172, 0.206093, 0.213262, -0.571361, 3.854326],
        558,
    ),
    (
        "C035",
        "GJIROKASTER",
        [4.157205, 4.548523, 0.177215, 0.244726, -0.665311, 2.826899],
        237,
    ),
    (
        "C035",
        "KORCE",
        [4.085011, 4.541387, 0.223714, 0.208054, -0.101595, 3.460913],
        447,
    ),
    (
        "C035",
        "KUKES",
        [4.582822, 4.618182, 0.193939, 0.224242, 0.692116, 3.560617],
        165,
    ),
    (
        "C035",
        "LEZHE",
        [4.375000, 4.578125, 0.226562, 0.195312, 0.081994, 2.691882],
        256,
    ),
    (
        "C035",
        "SHKODER",
        [3.856838, 4.440928, 0.185654, 0.191983, 0.382125, 3.235308],
        474,
    ),
    (
        "C035",
        "TIRANE",
        [4.053559, 4.599578, 0.194933, 0.185785, -0.406391, 3.758094],
        1421,
    ),
    (
        "C035",
        "VLORE",
        [4.431925, 4.722222, 0.182870, 0.232019, -0.621674, 3.708261],
        432,
    ),
    (
        "C050",
        "BERAT",
        [3.879725, 4.276667, 0.183333, 0.197324, 1.066658, 4.528165],
        300,
    ),
    (
        "C050",
        "DIBER",
        [3.922481, 4.279070, 0.205426, 0.213178, 0.095587, 2.542325],
        258,
    ),
    (
        "C050",
        "DURRES",
        [3.691441, 4.511261, 0.177928, 0.159910, 0.619732, 4.657102],
        444,
    ),
    (
        "C050",
        "ELBASAN",
        [3.815175, 4.428295, 0.195736, 0.218992, 0.846288, 5.211555],
        516,
    ),
    (
        "C050",
        "FIER",
        [4.030576, 4.654122, 0.188172, 0.198925, 1.396567, 7.279772],
        558,
    ),
    (
        "C050",
        "GJIROKASTER",
        [4.388646, 4.637131, 0.240506, 0.172996, 1.337713, 5.432894],
        237,
    ),
    (
        "C050",
        "KORCE",
        [3.584270, 4.449664, 0.234899, 0.203579, 0.609531, 3.521420],
        447,
    ),
    (
        "C050",
        "KUKES",
        [4.321212, 4.763636, 0.218182, 0.206061, 0.261983, 2.951741],
        165,
    ),
    (
        "C050",
        "LEZHE",
        [3.824219, 4.433594, 0.175781, 0.195312, 0.960611, 3.852430],
        256,
    ),
    (
        "C050",
        "SHKODER",
        [3.902954, 4.533755, 0.219409, 0.177215, 0.253643, 3.116207],
        474,
    ),
    (
        "C050",
        "TIRANE",
        [3.502113, 4.425757, 0.207600, 0.203378, 0.574804, 3.986706],
        1421,
    ),
    (
        "C050",
        "VLORE",
        [4.046512, 4.273148, 0.212963, 0.174014, 0.558689, 4.093627],
        432,
    ),
];

/// Albania 2013 as the toolkit reads it: every row is a station in its prefecture; the lists
/// are the columns C007–C072 ("NA" cells count as 0 here: none falls in C035 or C050).
fn albania_2013() -> Option<Input<'static>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/albania_2013_eftoolkit/Albania2013.csv");
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let lists: Vec<usize> = (0..header.len())
        .filter(|&i| header[i].starts_with('C'))
        .collect();
    let mut units: Vec<String> = Vec::new();
    let mut stations = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let unit = f[col("Prefectures")].to_owned();
        let u = match units.iter().position(|x| *x == unit) {
            Some(u) => u,
            None => {
                units.push(unit);
                units.len() - 1
            }
        };
        stations.push(Station {
            id: f[0].to_owned().into(),
            unit: u,
            centre: None,
            registered: f[col("Registered")].parse().unwrap(),
            cast: f[col("Ballots")].parse().unwrap(),
            votes: lists
                .iter()
                .map(|&i| f[i].parse().unwrap_or(0))
                .collect::<Vec<u64>>()
                .into(),
            counted: true,
            quarantined: false,
            amended: false,
        });
    }
    Some(Input {
        units,
        centres: Vec::new(),
        lists: lists.iter().map(|&i| header[i].to_owned()).collect(),
        stations,
    })
}

#[test]
fn eft_statistics_of_albania_2013_match_the_independent_values_to_three_decimals() {
    let Some(input) = albania_2013() else {
        panic!("../shared/data/albania_2013_eftoolkit/Albania2013.csv is missing");
    };
    let options = Options {
        integer: IntegerConfig {
            reps: 20,
            ..IntegerConfig::default()
        },
        ..Options::default()
    };
    let r = analyze(&input, &options).unwrap();
    assert_eq!(r.counted[r.units.len()], 5508);
    for (var, unit, want, obs) in EFT_ALBANIA_2013 {
        let v = r
            .variables
            .iter()
            .find(|v| v.name.eq_ignore_ascii_case(var))
            .unwrap_or_else(|| panic!("{var} not screened"));
        let g = r.units.iter().position(|u| u == unit).unwrap();
        let e = &v.eft[g];
        let got = [
            e.second_digit_mean,
            e.last_digit_mean,
            e.c05s,
            e.p05s,
            e.skew,
            e.kurt,
        ];
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            let g = g.unwrap();
            assert!(
                (g - w).abs() < 5e-4,
                "{var} {unit} statistic {k}: {g} against {w}"
            );
        }
        assert_eq!(e.obs, obs);
    }
}

fn station(unit: usize, registered: u64, cast: u64, votes: Vec<u64>) -> Station<'static> {
    Station {
        id: format!("s{unit}-{registered}-{cast}").into(),
        unit,
        centre: None,
        registered,
        cast,
        votes: votes.into(),
        counted: true,
        quarantined: false,
        amended: false,
    }
}

#[test]
fn bad_input_is_named() {
    let mut input = Input {
        units: vec!["a".into()],
        centres: Vec::new(),
        lists: vec!["x".into(), "y".into()],
        stations: vec![station(1, 10, 5, vec![2, 3])],
    };
    let e = analyze(&input, &Options::default()).unwrap_err();
    assert!(
        e.to_string().contains("unit index 1 is out of range"),
        "{e}"
    );
    input.stations[0] = station(0, 10, 5, vec![2]);
    let e = analyze(&input, &Options::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("1 list votes, but the election has 2"),
        "{e}"
    );
    input.stations[0].counted = false;
    input.stations[0].votes = vec![2, 3].into();
    assert_eq!(analyze(&input, &Options::default()), Err(InputError::Empty));
}

#[test]
fn stuffing_and_quarantine_concentration_are_flagged() {
    // Unit 0: honest, turnout and share independent. Unit 1: every extra voter votes for
    // list 0, so share rises with turnout.
    let mut stations = Vec::new();
    for i in 0..200u64 {
        let reg = 1000;
        let cast = 400 + (i * 37) % 300;
        let a = cast * (40 + (i * 53) % 20) / 100;
        stations.push(station(0, reg, cast, vec![a, cast - a]));
        let stuffed = (i * 29) % 400;
        let cast1 = 400 + stuffed;
        let a1 = 400 * 45 / 100 + stuffed;
        let mut s = station(1, reg, cast1, vec![a1, cast1 - a1]);
        s.quarantined = i % 4 == 0;
        s.counted = !s.quarantined;
        stations.push(s);
    }
    let input = Input {
        units: vec!["honest".into(), "stuffed".into()],
        centres: Vec::new(),
        lists: vec!["A".into(), "B".into()],
        stations,
    };
    let options = Options {
        integer: IntegerConfig {
            reps: 50,
            ..IntegerConfig::default()
        },
        ..Options::default()
    };
    let r = analyze(&input, &options).unwrap();
    let has =
        |unit: &str, screen: &str| r.flags.iter().any(|f| f.unit == unit && f.screen == screen);
    assert!(has("stuffed", "stuffing"), "{:#?}", r.flags);
    assert!(!has("honest", "stuffing"), "{:#?}", r.flags);
    assert!(has("stuffed", "quarantine"), "{:#?}", r.flags);
    assert!(!has("honest", "quarantine"));
    assert!(r.stuffing[1].sobyanin.unwrap() > 0.0);
    let text = report::summary(&r);
    assert!(text.contains("[stuffing] stuffed A"), "{text}");
    let files = report::files(&r, "test", None);
    assert_eq!(files[0].0, "index.html");
    assert!(files.iter().any(|(n, _)| n == "fingerprint.svg"));
}

#[test]
fn a_centre_whose_stations_move_together_is_flagged() {
    // One unit, five centres of 30 stations; in centre 3, half of B's votes go to A.
    let mut stations = Vec::new();
    for c in 0..5usize {
        for i in 0..30u64 {
            let cast = 500 + (i * 41 + c as u64 * 7) % 200;
            let mut a = cast * (45 + (i * 13 + c as u64 * 5) % 15) / 100;
            if c == 3 {
                a += (cast - a) / 2;
            }
            let mut s = station(0, 1000, cast, vec![a, cast - a]);
            s.centre = Some(c);
            s.id = format!("c{c}-{i}").into();
            stations.push(s);
        }
    }
    let input = Input {
        units: vec!["u".into()],
        centres: (0..5).map(|c| format!("centre {c}")).collect(),
        lists: vec!["A".into(), "B".into()],
        stations,
    };
    let options = Options {
        integer: IntegerConfig {
            reps: 10,
            ..IntegerConfig::default()
        },
        ..Options::default()
    };
    let r = analyze(&input, &options).unwrap();
    let flagged: Vec<&str> = r
        .flags
        .iter()
        .filter(|f| f.screen == "centre")
        .map(|f| f.detail.as_str())
        .collect();
    assert!(!flagged.is_empty());
    assert!(
        flagged.iter().all(|d| d.starts_with("centre 3:")),
        "{flagged:#?}"
    );
    assert_eq!(r.centres[0].centre, "centre 3");
    assert!(r.centres[0].median_z.abs() >= 3.0);
    let mut bad = input;
    bad.stations[0].centre = Some(9);
    let e = analyze(&bad, &options).unwrap_err();
    assert!(
        e.to_string().contains("centre index 9 is out of range"),
        "{e}"
    );
}

#[test]
fn robust_z_ignores_the_outlier_it_finds() {
    let xs = [0.50, 0.52, 0.48, 0.51, 0.49, 0.99];
    let z = robust_z(&xs);
    assert!(z[5].unwrap() > 20.0);
    assert!(z[0].unwrap().abs() < 1.0);
    assert_eq!(robust_z(&[0.5, 0.5, 0.5]), vec![None, None, None]);
}

fn arb_input() -> impl Strategy<Value = Input<'static>> {
    prop::collection::vec((0usize..3, 1u64..2000, 0u64..2000, 0u64..1000), 1..60).prop_map(|rows| {
        Input {
            units: vec!["a".into(), "b".into(), "c".into()],
            centres: Vec::new(),
            lists: vec!["x".into(), "y".into()],
            stations: rows
                .into_iter()
                .map(|(u, reg, cast, a)| {
                    let a = a.min(cast);
                    station(u, reg, cast, vec![a, cast - a])
                })
                .collect(),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn screens_do_not_depend_on_station_order(input in arb_input(), seed in any::<u64>()) {
        let options = Options {
            integer: IntegerConfig { reps: 5, ..IntegerConfig::default() },
            ..Options::default()
        };
        let a = analyze(&input, &options).unwrap();
        let mut shuffled = input;
        let n = shuffled.stations.len();
        #[allow(clippy::cast_possible_truncation)]
        shuffled.stations.rotate_left((seed % n as u64) as usize);
        shuffled.stations.reverse();
        let b = analyze(&shuffled, &options).unwrap();
        for (va, vb) in a.variables.iter().zip(&b.variables) {
            for (x, y) in va.eft.iter().zip(&vb.eft) {
                prop_assert_eq!(x.obs, y.obs);
                prop_assert_eq!(x.c05s, y.c05s);
                prop_assert_eq!(x.second_digit_mean, y.second_digit_mean);
                prop_assert_eq!(x.p05s, y.p05s);
                for (p, q) in [(x.skew, y.skew), (x.kurt, y.kurt)] {
                    match (p, q) {
                        (Some(p), Some(q)) => prop_assert!((p - q).abs() < 1e-6 * (1.0 + p.abs())),
                        (p, q) => prop_assert_eq!(p.is_some(), q.is_some()),
                    }
                }
            }
            prop_assert_eq!(&va.histogram, &vb.histogram);
            for (x, y) in va.integer.iter().zip(&vb.integer) {
                prop_assert_eq!(x.observed, y.observed);
                prop_assert_eq!(x.included, y.included);
            }
        }
        prop_assert_eq!(&a.fingerprint, &b.fingerprint);
        prop_assert_eq!(a.flags.len(), b.flags.len());
    }

    #[test]
    fn shares_and_rates_stay_in_range(input in arb_input()) {
        let options = Options {
            integer: IntegerConfig { reps: 5, ..IntegerConfig::default() },
            ..Options::default()
        };
        let r = analyze(&input, &options).unwrap();
        for v in &r.variables {
            for e in &v.eft {
                for x in [e.c05s, e.p05s].into_iter().flatten() {
                    prop_assert!((0.0..=1.0).contains(&x));
                }
                for x in [e.second_digit_mean, e.last_digit_mean].into_iter().flatten() {
                    prop_assert!((0.0..=9.0).contains(&x));
                }
            }
            for i in &v.integer {
                prop_assert!(i.observed <= i.included);
                prop_assert!(i.p_value > 0.0 && i.p_value <= 1.0);
            }
            prop_assert!(v.histogram.iter().sum::<u64>() <= r.counted[r.units.len()]);
        }
        for o in &r.outliers {
            prop_assert!((0.0..=100.0).contains(&o.percent));
        }
        for s in &r.stuffing {
            if let Some(c) = s.correlation {
                prop_assert!((-1.0 - 1e-9..=1.0 + 1e-9).contains(&c));
            }
        }
    }
}
