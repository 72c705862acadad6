// Wrapper module: pins the prometheus-operator release whose CRDs
// (ServiceMonitor, PrometheusRule) the chart test installs in the test bed,
// fetched checksum-verified from the Go module proxy (no Go code is built).
module dsc.federation.dev/testbed/monitoringcrds

go 1.24.0

require github.com/prometheus-operator/prometheus-operator v0.85.0
