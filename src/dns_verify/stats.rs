//! The statistics of `amko verify-dns`: Pearson's chi-square goodness-of-fit test and its p-value,
//! through the regularized upper incomplete gamma function (implemented here: a few dozen lines
//! do not justify a statistics crate, and the table tests pin them to known values).

/// A goodness-of-fit result: the statistic, its degrees of freedom and the p-value (the chance of
/// a statistic at least this large if the answers do follow the expected shares).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChiSquare {
    pub statistic: f64,
    pub degrees_of_freedom: u32,
    pub p_value: f64,
}

/// Pearson's chi-square test of `observed` counts against `shares` (same length, shares sum to
/// 1). `None` when there is nothing to test: fewer than two categories or no observation.
/// A category with share 0 and a non-zero count makes the p-value 0 (it cannot happen under the
/// hypothesis).
pub fn chi_square(observed: &[u64], shares: &[f64]) -> Option<ChiSquare> {
    if observed.len() != shares.len() || observed.len() < 2 {
        return None;
    }
    let total: u64 = observed.iter().sum();
    if total == 0 {
        return None;
    }
    let n = total as f64;
    let mut statistic = 0.0;
    for (&count, &share) in observed.iter().zip(shares) {
        let expected = n * share;
        let diff = count as f64 - expected;
        if expected <= 0.0 {
            if count > 0 {
                statistic = f64::INFINITY;
            }
            continue;
        }
        statistic += diff * diff / expected;
    }
    let degrees_of_freedom = observed.len() as u32 - 1;
    Some(ChiSquare {
        statistic,
        degrees_of_freedom,
        p_value: chi_square_survival(statistic, degrees_of_freedom),
    })
}

/// P(X >= x) for X chi-square distributed with `k` degrees of freedom: Q(k/2, x/2).
pub fn chi_square_survival(x: f64, k: u32) -> f64 {
    if x.is_nan() || k == 0 {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    gamma_q(f64::from(k) / 2.0, x / 2.0)
}

/// The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a), for a > 0, x >= 0:
/// the series of P(a, x) below x < a + 1, Lentz's continued fraction for Q above (Numerical
/// Recipes §6.2); both converge fast in their region. NaN outside the domain.
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if a.is_nan() || x.is_nan() || a <= 0.0 || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x == f64::INFINITY {
        return 0.0;
    }
    if x < a + 1.0 {
        (1.0 - gamma_p_series(a, x)).max(0.0)
    } else {
        gamma_q_continued_fraction(a, x)
    }
}

const EPSILON: f64 = 1e-16;
const MAX_ITERATIONS: usize = 10_000;

/// x^a e^-x / Γ(a), in logs so that large a and x do not overflow.
fn prefactor(a: f64, x: f64) -> f64 {
    (a * x.ln() - x - ln_gamma(a)).exp()
}

fn gamma_p_series(a: f64, x: f64) -> f64 {
    let mut term = 1.0 / a;
    let mut sum = term;
    let mut denominator = a;
    for _ in 0..MAX_ITERATIONS {
        denominator += 1.0;
        term *= x / denominator;
        sum += term;
        if term.abs() < sum.abs() * EPSILON {
            break;
        }
    }
    sum * prefactor(a, x)
}

fn gamma_q_continued_fraction(a: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..MAX_ITERATIONS {
        let i = i as f64;
        let an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPSILON {
            break;
        }
    }
    (prefactor(a, x) * h).clamp(0.0, 1.0)
}

/// ln Γ(a) for a > 0: the Lanczos approximation (g = 7, nine coefficients), accurate to about
/// 15 significant digits; the reflection formula is not needed since a > 0 here.
pub fn ln_gamma(a: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if a < 0.5 {
        // Γ(a) Γ(1-a) = π / sin(πa), for the small arguments where the series is less precise.
        return (std::f64::consts::PI / (std::f64::consts::PI * a).sin()).ln() - ln_gamma(1.0 - a);
    }
    let a = a - 1.0;
    let mut sum = COEFFICIENTS[0];
    for (i, c) in COEFFICIENTS.iter().enumerate().skip(1) {
        sum += c / (a + i as f64);
    }
    let t = a + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (a + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, relative: f64) -> bool {
        (actual - expected).abs() <= relative * expected.abs().max(1e-300)
    }

    /// Q(a, x) against scipy.special.gammaincc / mpmath's gammainc(a, x, inf, regularized=True)
    /// (30 digits, rounded to 17).
    #[test]
    // The reference values are quoted as the reference printed them.
    #[allow(clippy::excessive_precision)]
    fn upper_incomplete_gamma_matches_reference_values() {
        let table: [(f64, f64, f64); 15] = [
            (0.5, 0.1, 0.654_720_846_018_577_02),
            (0.5, 2.0, 0.045_500_263_896_358_414),
            (1.0, 1.0, 0.367_879_441_171_442_32),
            (1.5, 3.2, 0.093_690_790_407_629_92),
            (2.0, 5.0, 0.040_427_681_994_512_803),
            (3.0, 0.5, 0.985_612_322_033_029_31),
            (5.0, 12.5, 0.005_345_505_487_134_064_3),
            (10.0, 3.0, 0.998_897_511_869_884_52),
            (10.0, 25.0, 0.000_221_476_638_248_783_58),
            (50.0, 40.0, 0.929_664_933_340_605_05),
            (50.0, 80.0, 0.000_130_783_976_591_410_34),
            (0.5, 20.0, 2.539_628_589_470_865e-10),
            (100.0, 100.0, 0.486_701_201_720_851_34),
            (2.5, 0.001, 0.999_999_990_491_465_4),
            (0.5, 1.92, 0.050_043_521_248_705_103),
        ];
        for (a, x, want) in table {
            let got = gamma_q(a, x);
            assert!(close(got, want, 1e-10), "Q({a}, {x}) = {got}, want {want}");
        }
    }

    #[test]
    fn chi_square_survival_matches_the_textbook_critical_values() {
        // (statistic, degrees of freedom, p): the usual table of critical values.
        let table = [
            (3.841_458_820_694_124, 1, 0.05),
            (6.634_896_601_021_214, 1, 0.01),
            (10.827_566_170_662_733, 1, 0.001),
            (5.991_464_547_107_979, 2, 0.05),
            (16.266_236_196_238_13, 3, 0.001),
            (18.466_826_952_903_15, 4, 0.001),
        ];
        for (x, k, p) in table {
            let got = chi_square_survival(x, k);
            assert!(close(got, p, 1e-8), "chi2.sf({x}, {k}) = {got}, want {p}");
        }
        // Two degrees of freedom: exactly e^(-x/2).
        for x in [0.1, 1.0, 7.5, 40.0] {
            assert!(close(
                chi_square_survival(x, 2),
                (-x / 2.0_f64).exp(),
                1e-12
            ));
        }
        assert_eq!(chi_square_survival(0.0, 3), 1.0);
        assert_eq!(chi_square_survival(f64::INFINITY, 3), 0.0);
        assert!(chi_square_survival(1.0, 0).is_nan());
    }

    #[test]
    fn ln_gamma_matches_factorials_and_the_half_integer() {
        for (n, factorial) in [(1.0, 1.0), (2.0, 1.0), (5.0, 24.0), (11.0, 3_628_800.0)] {
            assert!(
                (ln_gamma(n) - f64::ln(factorial)).abs() < 1e-12,
                "ln Γ({n})"
            );
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
        assert!((ln_gamma(171.5) - 709.143_163_030_928_2).abs() < 1e-9);
    }

    #[test]
    fn gamma_q_is_nan_outside_its_domain_and_bounded_inside() {
        assert!(gamma_q(0.0, 1.0).is_nan());
        assert!(gamma_q(-1.0, 1.0).is_nan());
        assert!(gamma_q(1.0, -1.0).is_nan());
        assert!(gamma_q(f64::NAN, 1.0).is_nan());
        assert_eq!(gamma_q(3.0, 0.0), 1.0);
        assert_eq!(gamma_q(3.0, f64::INFINITY), 0.0);
        for a in [0.5, 1.0, 7.0, 400.0] {
            for x in [1e-9, 0.3, 6.0, 399.0, 401.0, 5_000.0] {
                let q = gamma_q(a, x);
                assert!((0.0..=1.0).contains(&q), "Q({a}, {x}) = {q}");
            }
        }
    }

    #[test]
    fn chi_square_of_counts() {
        // 1:3 over 4,000 answers, exactly proportional: statistic 0, p 1.
        let exact = chi_square(&[1_000, 3_000], &[0.25, 0.75]).expect("two categories");
        assert_eq!(exact.statistic, 0.0);
        assert_eq!(exact.degrees_of_freedom, 1);
        assert_eq!(exact.p_value, 1.0);
        // 50/50 where 25/75 was asked: (1000-2000)^2/1000... far in the tail.
        let skewed = chi_square(&[500, 500], &[0.25, 0.75]).expect("two categories");
        assert!((skewed.statistic - (250.0 * 250.0 / 250.0 + 250.0 * 250.0 / 750.0)).abs() < 1e-9);
        assert!(skewed.p_value < 1e-50, "{skewed:?}");
        // Hand-computed: observed 18/22/20 of equal thirds: (4+4+0)/20 = 0.4, p = e^-0.2.
        let thirds = chi_square(&[18, 22, 20], &[1.0 / 3.0; 3]).expect("three categories");
        assert!((thirds.statistic - 0.4).abs() < 1e-12);
        assert!(close(thirds.p_value, (-0.2_f64).exp(), 1e-12));
        // A member that must not answer but did.
        let impossible = chi_square(&[10, 1], &[1.0, 0.0]).expect("two categories");
        assert_eq!(impossible.p_value, 0.0);
        assert_eq!(chi_square(&[10], &[1.0]), None);
        assert_eq!(chi_square(&[0, 0], &[0.5, 0.5]), None);
        assert_eq!(chi_square(&[1, 2], &[1.0]), None);
    }
}
