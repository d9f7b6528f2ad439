package server

import (
	"github.com/bindery/bindery/handlers"
	"github.com/bindery/bindery/internal/devtools/demo"
	"github.com/bindery/bindery/internal/server/config"
)

// demoSite is the demo under /demo/, served in dev mode only: its
// simulator proxy would be an open door on a real deployment. In dev mode
// the WeChat API base is the simulator (internal/devstack points it there).
func demoSite(cfg *config.Config) *handlers.DemoSite {
	if !cfg.Dev {
		return nil
	}
	return &handlers.DemoSite{Pages: demo.Pages, SimURL: cfg.WeChatAPIBase, App: demo.App, AppID: demo.WeChatAppID}
}
