/**
 * The literal `Accept` headers Prometheus sends when it scrapes, per version, with and without
 * native histograms (`--enable-feature=native-histograms`, which switches the default
 * `scrape_protocols` to protobuf first). 2.42 and 3.5 were captured here from the Debian binaries
 * (a node:http target logging the header); 2.53 and 3.0 are built by `acceptHeader()` in
 * prometheus/prometheus `scrape/scrape.go` at v2.53.5 and v3.0.0 from `ScrapeProtocolsHeaders`
 * and the default protocol lists in `config/config.go` (3.0 appends `escaping=allow-utf-8` to
 * every range, so its text 1.0.0 range carries it twice).
 */

const PROTO = 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited';

/** One scraper's header. */
export interface ScraperAccept {
  prometheus: '2.42' | '2.53' | '3.0' | '3.5';
  nativeHistograms: boolean;
  accept: string;
}

export const PROMETHEUS_ACCEPT_HEADERS: readonly ScraperAccept[] = [
  {
    prometheus: '2.42',
    nativeHistograms: false,
    accept: 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
  },
  {
    prometheus: '2.42',
    nativeHistograms: true,
    accept: `${PROTO},application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`,
  },
  {
    prometheus: '2.53',
    nativeHistograms: false,
    accept: 'application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
  },
  {
    prometheus: '2.53',
    nativeHistograms: true,
    accept: `${PROTO};q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,application/openmetrics-text;version=0.0.1;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1`,
  },
  {
    prometheus: '3.0',
    nativeHistograms: false,
    accept:
      'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;escaping=allow-utf-8;q=0.5,' +
      'text/plain;version=1.0.0;escaping=allow-utf-8;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;escaping=allow-utf-8;q=0.3,*/*;q=0.2',
  },
  {
    prometheus: '3.0',
    nativeHistograms: true,
    accept:
      `${PROTO};escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;escaping=allow-utf-8;q=0.4,` +
      'text/plain;version=1.0.0;escaping=allow-utf-8;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;escaping=allow-utf-8;q=0.2,*/*;q=0.1',
  },
  {
    prometheus: '3.5',
    nativeHistograms: false,
    accept:
      'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
  },
  {
    prometheus: '3.5',
    nativeHistograms: true,
    accept:
      `${PROTO};q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,` +
      'text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1',
  },
];

/**
 * More headers that exercise client_golang's rules: a legacy-name Prometheus 3.5
 * (`metric_name_validation_scheme: legacy`, `metric_name_escaping_scheme: dots|values`, captured
 * here), q-values, wildcards, unknown escaping values, protobuf text encodings, case, blanks.
 */
export const EDGE_ACCEPT_HEADERS: readonly string[] = [
  'application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=underscores;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
  'application/openmetrics-text;version=1.0.0;escaping=dots;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=dots;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
  'application/openmetrics-text;version=1.0.0;escaping=values;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=values;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
  '',
  '*/*',
  'text/*',
  'text/plain',
  'text/plain;version=1.0.0',
  'text/plain;version=1.0.0;escaping=allow-utf-8',
  'text/plain;escaping=dots',
  'text/plain;escaping=bogus',
  'text/plain;escaping=',
  'text/plain;q=0',
  'Text/Plain',
  'text/plain;version="0.0.4"',
  ' text/plain ; version=0.0.4 ; escaping=values',
  'text/plain;q= 0.5;escaping=dots,application/json',
  'application/json;q=0.9,text/plain;q=0.1;escaping=values',
  'application/openmetrics-text;version=1.0.0',
  'application/openmetrics-text;q=0',
  `${PROTO};escaping=allow-utf-8`,
  `${PROTO};q=0.1,text/plain;q=0.2`,
  'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text',
  'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=compact-text;escaping=dots',
  'application/json;escaping=values,*/*;q=0.1',
  '*/*;escaping=dots,text/plain;q=0.5',
  'text/plain;q=0.5,application/json;escaping=dots;q=0.9',
  'garbage;;;,,',
];
