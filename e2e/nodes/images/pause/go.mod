module dsc.test/nodes/pause

go 1.24.0
